// Validates Amazon States Language files with AWS's own language service (the one the AWS Toolkit uses):
// its JSON schema and its ASL rules. Prints one line per problem and exits 1 if there is any.
// Usage: node tools/asl/validate.js NODE_MODULES_DIR FILE.asl.json...
'use strict';
const fs = require('fs');
const path = require('path');

const [modules, ...files] = process.argv.slice(2);
const asl = require(path.resolve(modules, 'amazon-states-language-service'));

async function main() {
  const service = asl.getLanguageService({});
  let problems = 0;
  for (const file of files) {
    const document = asl.TextDocument.create(`file://${path.resolve(file)}`, 'json', 0, fs.readFileSync(file, 'utf8'));
    const diagnostics = await service.doValidation(document, service.parseJSONDocument(document));
    for (const d of diagnostics) {
      problems += 1;
      const { line, character } = d.range.start;
      console.log(`${file}:${line + 1}:${character + 1}: ${d.message}`);
    }
  }
  console.log(`${files.length} file(s) validated, ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
}

main().catch((error) => { console.error(error); process.exit(2); });
