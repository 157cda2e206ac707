// Store identity: a random store id and generation ids, plus the model and software
// version of the appliance that owns the store. Created with a new store and by
// `clear()`; replaced when a backup adopts its master's store. Validated whenever it
// is read from disk or handed in, since sync decisions hang on it.
import { randomBytes } from "node:crypto";
import { TandemError } from "../errors.ts";
import type { StoreIdentity } from "./types.ts";

/** Earlier generations kept in `history` (newest first). */
export const identityHistoryMax = 16;
/** Longest model / software version string accepted. */
export const identityTextBytesMax = 64;

export function randomId(): string {
  return randomBytes(16).toString("hex");
}

export function newIdentity(model: string, softwareVersion: string, nowMs = Date.now()): StoreIdentity {
  return {
    storeId: randomId(),
    generation: randomId(),
    peerGeneration: null,
    history: [],
    model,
    softwareVersion,
    createdMs: nowMs,
  };
}

function isShortText(value: unknown): value is string {
  return typeof value === "string" && value.length > 0 && value.length <= identityTextBytesMax;
}

/** Checks every field; throws `badInput` (or `corrupt` when read from disk) naming the bad one. */
export function validateIdentity(value: unknown, code: "badInput" | "corrupt" = "badInput"): StoreIdentity {
  const v = value as Partial<StoreIdentity> | null;
  const fail = (field: string): never => {
    throw new TandemError(code, `store identity has an invalid ${field}`);
  };
  if (!v || typeof v !== "object") fail("record");
  if (!isShortText(v!.storeId)) fail("storeId");
  if (!isShortText(v!.generation)) fail("generation");
  if (v!.peerGeneration !== null && !isShortText(v!.peerGeneration)) fail("peerGeneration");
  if (!Array.isArray(v!.history) || v!.history.length > identityHistoryMax || !v!.history.every(isShortText)) fail("history");
  if (!isShortText(v!.model)) fail("model");
  if (!isShortText(v!.softwareVersion)) fail("softwareVersion");
  if (typeof v!.createdMs !== "number" || !Number.isFinite(v!.createdMs) || v!.createdMs < 0) fail("createdMs");
  return {
    storeId: v!.storeId!, generation: v!.generation!, peerGeneration: v!.peerGeneration ?? null,
    history: [...v!.history!], model: v!.model!, softwareVersion: v!.softwareVersion!, createdMs: v!.createdMs!,
  };
}
