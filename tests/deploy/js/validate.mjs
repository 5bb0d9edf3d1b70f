// Reads a JSON array of Kubernetes objects on stdin and prints, as one JSON array, each object's validation
// errors from @kubernetes-models/cloudnative-pg (its compiled JSON-schema validators, run through the model
// class's validate()): [{instancePath, keyword, message, params}, ...], [] for a valid object. An object of
// a kind this script has no validator for gets one error with keyword "kind". Exit 0 when the input was
// read, whether or not an object is valid; non-zero (and a message on stderr) when it could not be.
import { Cluster } from "@kubernetes-models/cloudnative-pg/postgresql.cnpg.io/v1/Cluster";

const MODELS = [Cluster];

function errorsOf(doc) {
  const model = MODELS.find((candidate) => candidate.is(doc));
  if (model === undefined) {
    const message = `no validator for ${doc?.apiVersion} ${doc?.kind}`;
    return [{ instancePath: "", keyword: "kind", message, params: {} }];
  }
  try {
    new model(doc).validate();
  } catch (error) {
    if (!Array.isArray(error?.errors)) throw error;
    return error.errors.map(({ instancePath, keyword, message, params }) => ({
      instancePath,
      keyword,
      message,
      params,
    }));
  }
  return [];
}

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const docs = JSON.parse(Buffer.concat(chunks).toString("utf8"));
if (!Array.isArray(docs)) throw new TypeError("stdin: a JSON array of objects expected");
process.stdout.write(JSON.stringify(docs.map(errorsOf)) + "\n");
