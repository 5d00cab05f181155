// Validates AsyncAPI documents offline with the official parser (@asyncapi/parser,
// pinned in package-lock.json): the AsyncAPI JSON Schema of the document's version,
// every payload and header schema against its schemaFormat, and the parser's Spectral
// rules (references resolve, operations send only their channel's messages, ...).
// Usage: node validate.mjs FILE...
//   prints `checked FILE` for each file, `warning ...` for warnings and hints, and
//   `problem ...` on stderr for each error; exits 1 if any file has an error.
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { DiagnosticSeverity, Parser } from "@asyncapi/parser";

// The AsyncAPI schemas come with @asyncapi/specs: nothing is fetched for a document
// whose references are all inside it (tests/unit/test_asyncapi.py holds ours to that).
const parser = new Parser();
const NAMES = ["error", "warning", "info", "hint"];

function where(diagnostic) {
  const path = (diagnostic.path ?? []).join("/");
  const line = diagnostic.range?.start?.line;
  return `${path || "(root)"}${line === undefined ? "" : ` (line ${line + 1})`}`;
}

const files = process.argv.slice(2);
if (!files.length) {
  console.error("usage: node validate.mjs FILE...");
  process.exit(2);
}
let failed = false;
for (const file of files) {
  const label = relative(process.cwd(), file) || file;
  let diagnostics;
  try {
    ({ diagnostics } = await parser.parse(readFileSync(file, "utf8"), { source: file }));
  } catch (error) {
    diagnostics = [{ severity: DiagnosticSeverity.Error, code: "exception", message: String(error) }];
  }
  for (const d of diagnostics) {
    const text = `${label}: ${NAMES[d.severity] ?? d.severity} ${d.code}: ${d.message} at ${where(d)}`;
    if (d.severity === DiagnosticSeverity.Error) {
      failed = true;
      console.error(`problem ${text}`);
    } else {
      console.log(`warning ${text}`);
    }
  }
  console.log(`checked ${label}`);
}
process.exit(failed ? 1 : 0);
