// How the CLI reaches a cluster: its services over gRPC (--server), with the bearer token from
// ISRDPO_GRPC_TOKEN when the servers require one.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { RunService, TrainerService } from "@isrdpo/contracts";

export const DEFAULT_SERVER = "http://127.0.0.1:50051";

/** How long a `--nats` command waits for NATS before failing with one line naming it. */
export const NATS_CONNECT_TIMEOUT_MS = 5_000;

export function transport(baseUrl: string) {
  const token = process.env.ISRDPO_GRPC_TOKEN;
  const auth: Interceptor = (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  return createGrpcTransport({ baseUrl, interceptors: [auth] });
}

export function runClient(baseUrl: string): Client<typeof RunService> {
  return createClient(RunService, transport(baseUrl));
}

export function trainerClient(baseUrl: string): Client<typeof TrainerService> {
  return createClient(TrainerService, transport(baseUrl));
}
