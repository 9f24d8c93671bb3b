// Validate Gateway API objects against the Gateway API JSON schemas published in
// @kubernetes-models/gateway-api (generated from sigs.k8s.io/gateway-api's Go types).
// kubernetes-validate has schemas for built-in kinds only; this covers the CRD kinds.
//
//   kubectl kustomize k8s/overlays/gateway-api -o json | node validate.mjs
//   (or a JSON array of objects on stdin)
//
// Prints one JSON line per object of group gateway.networking.k8s.io:
//   {"kind": ..., "name": ..., "valid": true|false, "error": "..."}
// and exits 1 if any is invalid or has no schema here. Objects of other groups are
// skipped. The schemas check structure, types, enums, patterns and bounds; the CEL rules
// the API server also runs (x-kubernetes-validations) are not evaluated here.
import { readFileSync } from "node:fs";

const GROUP = "gateway.networking.k8s.io";

const input = JSON.parse(readFileSync(0, "utf8"));
const objects = Array.isArray(input) ? input : input.kind === "List" ? input.items : [input];

let failed = false;
for (const obj of objects) {
  const [group, version] = (obj.apiVersion || "").split("/");
  if (group !== GROUP) continue;
  const result = { kind: obj.kind, name: obj.metadata?.name, valid: false };
  let Model;
  try {
    const module = await import(`@kubernetes-models/gateway-api/${group}/${version}/${obj.kind}`);
    Model = module[obj.kind];
  } catch {
    result.error = `no schema for ${obj.apiVersion} ${obj.kind}`;
  }
  if (Model) {
    try {
      new Model(obj).validate();
      result.valid = true;
    } catch (err) {
      result.error = err.message;
    }
  }
  failed ||= !result.valid;
  console.log(JSON.stringify(result));
}
process.exit(failed ? 1 : 0);
