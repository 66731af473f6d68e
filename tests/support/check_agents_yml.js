// Check m365agents.yml the way the Microsoft 365 Agents Toolkit does before it provisions or deploys: its own
// YAML parser, validating against the schema of the file's `version` that ships in the CLI (offline).
// Usage: node check_agents_yml.js <path>; prints {ok, version, actions, errors}.
const path = require("node:path");
const fs = require("node:fs");
const yaml = require("js-yaml");
const { yamlParser } = require("@microsoft/teamsfx-core/build/component/configManager/parser");
const { Validator } = require("@microsoft/teamsfx-core/build/component/configManager/validator");

(async () => {
  const file = path.resolve(process.argv[2]);
  const parsed = await yamlParser.parse(file, true);
  const result = { ok: parsed.isOk(), errors: [] };
  if (parsed.isOk()) {
    const model = parsed.value;
    result.version = model.version;
    result.environmentFolderPath = model.environmentFolderPath;
    result.actions = {};
    for (const stage of ["provision", "deploy", "publish"]) {
      result.actions[stage] = (model[stage]?.driverDefs || []).map((d) => d.uses);
    }
  } else {
    result.errors.push(parsed.error.message);
    // The schema's own words on what is wrong, for the test's message.
    const raw = yaml.load(fs.readFileSync(file, "utf8"));
    const validator = new Validator();
    const impl = validator.impl.get(raw?.version);
    if (impl && !impl.validator(raw)) {
      for (const e of impl.validator.errors || []) result.errors.push(`${e.instancePath} ${e.message}`);
    }
  }
  process.stdout.write(JSON.stringify(result));
})();
