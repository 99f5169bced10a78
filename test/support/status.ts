// The typed status of a call that must fail: its gRPC code and raw message.
import { type Code, ConnectError } from "@connectrpc/connect";

export async function status(call: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await call;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error("the call succeeded");
}
