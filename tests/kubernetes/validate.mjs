// Validates Kubernetes manifests offline against the published models of Kubernetes,
// Strimzi and CloudNativePG (the kubernetes-models packages, generated from their
// OpenAPI schemas and CRDs):
//   1. values: each document's model runs its JSON Schema validation (types, enums,
//      required fields, patterns);
//   2. unknown fields: each document becomes a typed TypeScript literal and `tsc`
//      refuses any property the types do not declare, as `kubectl --validate=strict`
//      would (a CRD's schema validation alone lets a misspelt field through).
// Usage: node validate.mjs FILE_OR_DIR...   (exit 1 with every problem listed)
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

const HERE = dirname(fileURLToPath(import.meta.url));
const PACKAGES = {
  "kafka.strimzi.io": "@kubernetes-models/strimzi-kafka-operator",
  "postgresql.cnpg.io": "@kubernetes-models/cloudnative-pg",
};
// kustomize's own file is read by kubectl, not sent to the API server: checked by hand.
const KUSTOMIZATION = new Set(["apiVersion", "kind", "namespace", "resources", "images"]);

function files(paths) {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => join(p, f))
      : [p],
  );
}

function modulePath(apiVersion, kind) {
  const group = apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
  return `${PACKAGES[group] ?? "kubernetes-models"}/${apiVersion}/${kind}`;
}

const problems = [];
const typed = [];
const checked = [];
for (const file of files(process.argv.slice(2))) {
  const where = relative(process.cwd(), file);
  for (const [index, document] of parseAllDocuments(readFileSync(file, "utf8")).entries()) {
    if (document.errors.length) {
      problems.push(`${where}#${index}: YAML: ${document.errors.map((e) => e.message).join("; ")}`);
      continue;
    }
    const data = document.toJS();
    if (data === null) continue;
    const label = `${where}#${index} ${data.kind}/${data.metadata?.name ?? ""}`;
    if (data.kind === "Kustomization") {
      const unknown = Object.keys(data).filter((k) => !KUSTOMIZATION.has(k));
      const missing = (data.resources ?? []).filter((r) => {
        try { return !statSync(join(dirname(file), r)).isFile(); } catch { return true; }
      });
      if (unknown.length) problems.push(`${label}: unknown fields ${unknown.join(", ")}`);
      if (missing.length) problems.push(`${label}: resources not found: ${missing.join(", ")}`);
      checked.push(label);
      continue;
    }
    let Model;
    try {
      Model = (await import(modulePath(data.apiVersion, data.kind)))[data.kind];
    } catch {
      problems.push(`${label}: no model for ${data.apiVersion} ${data.kind}`);
      continue;
    }
    try {
      new Model(data).validate();
    } catch (error) {
      problems.push(`${label}: ${error.message}`);
    }
    typed.push({ label, module: modulePath(data.apiVersion, data.kind), kind: data.kind, data });
    checked.push(label);
  }
}

// One TypeScript file, one typed constant per document: excess property checks.
const dir = mkdtempSync(join(HERE, ".check-"));
try {
  const lines = typed.map((t, i) => `import type { I${t.kind} as T${i} } from ${JSON.stringify(t.module)};`);
  typed.forEach((t, i) => {
    lines.push(`// ${t.label}`);
    lines.push(`export const d${i}: T${i} = ${JSON.stringify(t.data, null, 1)};`);
  });
  writeFileSync(join(dir, "manifests.ts"), lines.join("\n") + "\n");
  const tsc = join(HERE, "node_modules", "typescript", "bin", "tsc");
  try {
    execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--skipLibCheck",
      "--module", "nodenext", "--moduleResolution", "nodenext", "--target", "es2022",
      join(dir, "manifests.ts")], { cwd: HERE, encoding: "utf8", stdio: "pipe" });
  } catch (error) {
    for (const line of String(error.stdout).split("\n").filter((l) => l.includes("error TS"))) {
      // Name the document the error is in: the nearest "// label" line above it.
      const at = Number(/\((\d+),\d+\)/.exec(line)?.[1] ?? 0);
      let label = "?";
      for (let n = at - 1; n >= 0; n--) if (lines[n]?.startsWith("// ")) { label = lines[n].slice(3); break; }
      problems.push(`${label}: ${line.replace(/^.*error TS\d+: /, "")}`);
    }
    if (!problems.length) problems.push(`tsc failed: ${error.stdout || error.message}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

for (const label of checked) console.log(`checked ${label}`);
for (const problem of problems) console.error(`problem ${problem}`);
process.exit(problems.length ? 1 : 0);
