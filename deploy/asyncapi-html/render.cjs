// node render.cjs DOCUMENT OUTPUT_DIR: one self-contained index.html for DOCUMENT.
// The template is installed beside this file (npm ci --ignore-scripts), so the
// generator never fetches anything.
const path = require("path");
const Generator = require("@asyncapi/generator");

async function main([document, output]) {
  if (!document || !output) {
    throw new Error("usage: node render.cjs DOCUMENT OUTPUT_DIR");
  }
  const template = path.join(__dirname, "node_modules", "@asyncapi", "html-template");
  const generator = new Generator(template, path.resolve(output), {
    forceWrite: true,
    templateParams: { singleFile: "true" },
  });
  await generator.generateFromFile(path.resolve(document));
  console.log(`wrote ${path.join(path.resolve(output), "index.html")}`);
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error.message || error);
  process.exit(1);
});
