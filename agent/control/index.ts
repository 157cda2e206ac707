// The control API: in-process implementation, Unix-socket server and client.
export { createControlApi, type ControlledAppliance } from "./api.ts";
export { startControlServer, type ControlServer } from "./server.ts";
export { connectControl, type RemoteControl } from "./client.ts";
export * from "./types.ts";
