// A @grpc/grpc-js client built from the .proto files (not the generated TypeScript), as an external
// user of the platform would build one.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { REPO_ROOT } from "./processes.ts";

const definition = protoLoader.loadSync(
  [
    "isrdpo/v1/run.proto",
    "isrdpo/v1/inference.proto",
    "isrdpo/v1/context.proto",
    "isrdpo/v1/judge.proto",
    "isrdpo/v1/trainer.proto",
    "isrdpo/v1/evaluator.proto",
    "grpc/health/v1/health.proto",
  ],
  { includeDirs: [`${REPO_ROOT}proto`, `${REPO_ROOT}third_party/proto`], keepCase: false, longs: String, enums: String, defaults: true },
);
export const protos = grpc.loadPackageDefinition(definition) as any;

export function client(service: string, port: number): grpc.Client & Record<string, any> {
  const [pkg, name] = service === "grpc.health.v1.Health" ? [protos.grpc.health.v1, "Health"] : [protos.isrdpo.v1, service];
  return new pkg[name](`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

/** Promisified unary call: resolves with the response or rejects with the grpc-js ServiceError. */
export function unary(c: grpc.Client & Record<string, any>, method: string, request: object, metadata = new grpc.Metadata()): Promise<any> {
  return new Promise((resolve, reject) =>
    c[method](request, metadata, (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res))),
  );
}

export { grpc };
