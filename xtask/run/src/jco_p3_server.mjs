// Serves a WASI 0.3 http component that `jco transpile` wrote beside this
// file (as `component.js`) with preview3-shim's HttpServer, on Node with
// JavaScript Promise Integration: `node jco_p3_server.mjs <host> <port>`.
// Written by `cargo xtask portability` (xtask/run/src/outside.rs).
//
// jco 1.35's `serve` wires only a 0.2 `incoming-handler` to a server. Its
// transpiled `handle` resolves to the response and throws an error-code,
// where the shim's server expects a `result`: that is the one adaptation.
import { HttpServer } from "@bytecodealliance/preview3-shim/http";
import { handler } from "./component.js";

const [host, port] = process.argv.slice(2);
const server = new HttpServer({
  async handle(request) {
    try {
      return { tag: "ok", val: await handler.handle(request) };
    } catch (error) {
      console.error("the component failed:", error);
      return { tag: "err", val: error?.payload ?? { tag: "internal-error", val: String(error) } };
    }
  },
});
server.on("error", (error) => console.error("Error:", error));
await server.listen(Number(port), host);
console.error(`Server listening @ ${host}:${port}...`);
