#!/usr/bin/env node
// A TrainingService client that knows nothing but the .proto files and a bearer token.
//
//   LTX_TOKEN=... node train_and_watch.js <host:port> '<TrainingInput as JSON>'
//       creates a job, prints every event of it as one JSON line (heartbeats left out), then
//       {"final": {...}} once the event stream has ended
//   LTX_TOKEN=... node train_and_watch.js <host:port> get <trainingJobs/...>
//       prints {"job": {...}}
//
// Plaintext channel; the token travels as "authorization: Bearer <token>" metadata on every call (call
// credentials are refused by grpc-js on insecure channels, so each call gets its own Metadata).
// A gRPC failure prints {"error": {"code": <number>, "details": ...}} and exits 1; bad usage exits 2.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const googleProtoFiles = require('google-proto-files');

const PROTOS_DIR = path.resolve(__dirname, '..', '..', '..', 'protos');
// getProtoPath() names the package's google/ folder; imports are written "google/...", so its parent.
const GOOGLE_PROTOS_DIR = path.dirname(googleProtoFiles.getProtoPath());
const UNARY_DEADLINE_MS = 60 * 1000;
const WATCH_DEADLINE_MS = 15 * 60 * 1000;

const packageDefinition = protoLoader.loadSync('ltx/trainer/v1/training_service.proto', {
  includeDirs: [PROTOS_DIR, GOOGLE_PROTOS_DIR],
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
const TrainingService = grpc.loadPackageDefinition(packageDefinition).ltx.trainer.v1.TrainingService;

class UsageError extends Error {}

function callMetadata() {
  const metadata = new grpc.Metadata();
  const token = process.env.LTX_TOKEN;
  if (token) {
    metadata.set('authorization', `Bearer ${token}`);
  }
  return metadata;
}

function deadline(ms) {
  return new Date(Date.now() + ms);
}

function unary(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, callMetadata(), { deadline: deadline(UNARY_DEADLINE_MS) }, (err, response) =>
      err ? reject(err) : resolve(response),
    );
  });
}

// bytes fields come back as Buffers: print them as base64, as the proto3 JSON mapping does.
function toJson(value) {
  return JSON.stringify(value, function replace(key, serialized) {
    const raw = this[key];
    return Buffer.isBuffer(raw) ? raw.toString('base64') : serialized;
  });
}

function emit(value) {
  process.stdout.write(toJson(value) + '\n');
}

function parseTrainingInput(text) {
  let input;
  try {
    input = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`the request is not JSON: ${err.message}`);
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new UsageError('the request must be a JSON object (a TrainingInput)');
  }
  // protobufjs drops unknown keys without a word; a misspelt field should not silently fall back to a default.
  const known = new Set(packageDefinition['ltx.trainer.v1.TrainingInput'].type.field.map((f) => f.name));
  const unknown = Object.keys(input).filter((key) => !known.has(key));
  if (unknown.length > 0) {
    throw new UsageError(`TrainingInput has no field(s): ${unknown.join(', ')}`);
  }
  return input;
}

async function trainAndWatch(client, input) {
  const job = await unary(client, 'CreateTrainingJob', { input });
  const call = client.WatchTrainingJob({ name: job.name, after_sequence: '0' }, callMetadata(), {
    deadline: deadline(WATCH_DEADLINE_MS),
  });
  for await (const event of call) {
    const kind = event.event;
    if (kind === 'heartbeat') {
      continue;
    }
    emit({ sequence: event.sequence, kind, time: event.time, [kind]: event[kind] });
  }
  const final = await unary(client, 'GetTrainingJob', { name: job.name });
  emit({
    final: {
      name: final.name,
      state: final.state,
      billable_units: final.billable_units,
      error: final.error,
    },
  });
}

async function getJob(client, name) {
  emit({ job: await unary(client, 'GetTrainingJob', { name }) });
}

async function main(argv) {
  const [target, ...rest] = argv;
  let action;
  if (target && rest.length === 2 && rest[0] === 'get') {
    action = (client) => getJob(client, rest[1]);
  } else if (target && rest.length === 1) {
    const input = parseTrainingInput(rest[0]);
    action = (client) => trainAndWatch(client, input);
  } else {
    throw new UsageError('usage: train_and_watch.js <host:port> <TrainingInput JSON> | <host:port> get <job name>');
  }
  const client = new TrainingService(target, grpc.credentials.createInsecure());
  try {
    await action(client);
  } finally {
    client.close();
  }
}

main(process.argv.slice(2)).then(
  () => {
    process.exitCode = 0;
  },
  (err) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
    } else if (err && typeof err.code === 'number' && 'details' in err) {
      emit({ error: { code: err.code, details: err.details } });
      process.exitCode = 1;
    } else {
      process.stderr.write(`${(err && err.stack) || err}\n`);
      process.exitCode = 1;
    }
  },
);
