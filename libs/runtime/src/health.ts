// grpc.health.v1: Check, List and Watch. Status "" is the whole server.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { health } from "@isrdpo/contracts";

const { HealthCheckResponse_ServingStatus: Status } = health;
type ServingStatusValue = health.HealthCheckResponse_ServingStatus;

export class HealthRegistry {
  readonly #status = new Map<string, ServingStatusValue>();
  readonly #watchers = new Set<() => void>();

  set(service: string, status: ServingStatusValue): void {
    this.#status.set(service, status);
    for (const notify of this.#watchers) notify();
  }

  /** Marks every registered service and the server as NOT_SERVING (start of shutdown). */
  shutdown(): void {
    for (const service of this.#status.keys()) this.#status.set(service, Status.NOT_SERVING);
    this.#closed = true;
    for (const notify of this.#watchers) notify();
  }
  #closed = false;

  get(service: string): ServingStatusValue | undefined {
    return this.#status.get(service);
  }

  // Sends the status now and on every change; ends once the server shuts down.
  async *#watch(service: string, signal: AbortSignal) {
    let last: ServingStatusValue | undefined;
    while (!signal.aborted) {
      const status = this.#status.get(service) ?? Status.SERVICE_UNKNOWN;
      if (status !== last) {
        last = status;
        yield create(health.HealthCheckResponseSchema, { status });
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.#watchers.delete(wake);
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.#watchers.add(wake);
        signal.addEventListener("abort", wake);
      });
    }
  }

  register(router: ConnectRouter): void {
    router.service(health.Health, {
      check: (req) => {
        const status = this.#status.get(req.service);
        if (status === undefined) throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
        return create(health.HealthCheckResponseSchema, { status });
      },
      list: () =>
        create(health.HealthListResponseSchema, {
          statuses: Object.fromEntries(
            [...this.#status].map(([name, status]) => [name, create(health.HealthCheckResponseSchema, { status })]),
          ),
        }),
      watch: (req, ctx) => this.#watch(req.service, ctx.signal),
    });
  }
}

export { Status as ServingStatus };
