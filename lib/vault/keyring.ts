/**
 * Keyrings: the token key and the key-encryption keys (KEKs), kept in versioned JSON files and
 * loaded as key providers. A key's material is in the file, or the file names a key in AWS KMS.
 */
import { createPrivateKey, createPublicKey, type JsonWebKeyInput } from "node:crypto";
import { fileKek, fileTokenKey } from "./file_keys.ts";
import type { KekProvider, TokenKeyProvider } from "./key_provider.ts";
// Types only: the KMS client itself is loaded when a keyring names a KMS key.
import type { KmsKeys, KmsOptions } from "./kms_keys.ts";

/** A keyring file that cannot be read, written or used; the message names the file. */
export class KeyringError extends Error {
  override name = "KeyringError";
}

/** The curve of every file KEK: ECDH on P-256, then HKDF-SHA256 and AES key wrap (`envelope.ts`). */
export const KEK_ALGORITHM = { name: "ECDH", namedCurve: "P-256" } as const;

/** An ECDH P-256 key-encryption key in memory. Ingest keyrings hold only the public half. */
export interface Kek {
  readonly id: string;
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey | undefined;
}

/** A loaded keyring. A `full` keyring can reveal; an `ingest` keyring can only encrypt. */
export interface Keyring extends Disposable {
  readonly kind: "full" | "ingest";
  readonly tokenKey: TokenKeyProvider;
  /** The KEKs still held, newest first: the first wraps new data keys, the others unwrap. */
  readonly keks: readonly [KekProvider, ...KekProvider[]];
}

/** The token key's entry: its bytes, or the HMAC key in AWS KMS that holds them. */
export type TokenKeyEntry =
  | { readonly version: number; readonly created?: string; readonly key: string }
  | {
    readonly version: number;
    readonly created?: string;
    readonly provider: "aws-kms";
    readonly keyId: string;
  };

/** A KEK's entry: an ECDH key pair, a KMS key, or a retired KEK (no material left). */
export type KekEntry =
  | {
    readonly id: string;
    readonly created?: string;
    readonly algorithm: "ECDH-P256";
    readonly publicKey: JsonWebKey;
    readonly privateKey?: JsonWebKey;
  }
  | {
    readonly id: string;
    readonly created?: string;
    readonly provider: "aws-kms";
    readonly keyId: string;
  }
  | { readonly id: string; readonly created?: string; readonly retired: string };

/**
 * The JSON form of a keyring file. Version 2 adds creation times, KMS keys and retired KEKs;
 * version 1 files are read as they are. KEKs are listed newest first.
 */
export interface KeyringFile {
  readonly format: "vaultline-keyring";
  readonly version: 1 | 2;
  readonly kind: "full" | "ingest";
  readonly createdAt: string;
  readonly tokenKey: TokenKeyEntry;
  readonly keks: readonly KekEntry[];
}

/** One line of `keys list`: never key material. */
export interface KeyListing {
  readonly id: string;
  readonly kind: "token" | "kek";
  readonly created: string;
  readonly status: "active" | "decrypt-only" | "retired";
}

/** Where `keys init` and `keys rotate` put new keys: in the file, or KMS keys they name. */
export interface NewKeyOptions {
  readonly now?: Date;
  /** A KMS symmetric encryption key for the KEK, instead of a new ECDH key pair. */
  readonly kmsKek?: string | undefined;
  /** A KMS HMAC_256 key for the token key, instead of 32 random bytes (`keys init` only). */
  readonly kmsTokenKey?: string | undefined;
}

/** Creates a new full keyring and the ingest keyring that matches it. */
export async function createKeyrings(
  now: Date = new Date(),
  options: Omit<NewKeyOptions, "now"> = {},
): Promise<{ full: KeyringFile; ingest: KeyringFile }> {
  const created = now.toISOString();
  const tokenKey: TokenKeyEntry = options.kmsTokenKey === undefined
    ? { version: 1, created, key: crypto.getRandomValues(new Uint8Array(32)).toBase64() }
    : { version: 1, created, provider: "aws-kms", keyId: options.kmsTokenKey };
  const full: KeyringFile = {
    format: "vaultline-keyring",
    version: 2,
    kind: "full",
    createdAt: created,
    tokenKey,
    keks: [await newKek(created, options.kmsKek)],
  };
  return { full, ingest: ingestKeyringOf(full) };
}

/**
 * Adds a new KEK, newest first, to the full keyring `full`; returns it and the ingest keyring
 * that wraps under the new KEK. Older KEKs stay to unwrap what they wrapped.
 */
export async function rotateKeyrings(
  full: KeyringFile,
  options: NewKeyOptions = {},
): Promise<{ full: KeyringFile; ingest: KeyringFile; kekId: string }> {
  if (full.kind !== "full") throw new TypeError("only a full keyring can rotate");
  const active = activeKek(full);
  if (options.kmsKek !== undefined && "keyId" in active && active.keyId === options.kmsKek) {
    throw new TypeError(`KMS key "${options.kmsKek}" is already the active KEK "${active.id}"`);
  }
  const kek = await newKek((options.now ?? new Date()).toISOString(), options.kmsKek);
  const rotated: KeyringFile = { ...full, version: 2, keks: [kek, ...full.keks] };
  return { full: rotated, ingest: ingestKeyringOf(rotated), kekId: kek.id };
}

/**
 * `full` with KEK `id` retired: its material gone, its id and times kept for the record. Throws
 * a `TypeError` saying why not (unknown, already retired, or the active KEK).
 */
export function retireKek(full: KeyringFile, id: string, now: Date = new Date()): KeyringFile {
  const entry = full.keks.find((kek) => kek.id === id);
  if (!entry) throw new TypeError("the keyring holds no KEK of that id");
  if ("retired" in entry) throw new TypeError("it is already retired");
  if (activeKek(full).id === id) {
    throw new TypeError("it is the active KEK, which wraps new data keys: rotate first");
  }
  const retired: KekEntry = {
    id,
    ...(entry.created === undefined ? {} : { created: entry.created }),
    retired: now.toISOString(),
  };
  return { ...full, version: 2, keks: full.keks.map((kek) => (kek.id === id ? retired : kek)) };
}

/** The ingest keyring of a full keyring: the token key and the active KEK's public half. */
export function ingestKeyringOf(full: KeyringFile): KeyringFile {
  const active = activeKek(full);
  const kek: KekEntry = "privateKey" in active
    ? (({ privateKey: _private, ...rest }) => rest)(active)
    : active;
  return { ...full, kind: "ingest", keks: [kek] };
}

/** The KEK that wraps new data keys: the newest one not retired. */
export function activeKek(file: KeyringFile): Exclude<KekEntry, { retired: string }> {
  const active = file.keks.find((kek): kek is Exclude<KekEntry, { retired: string }> =>
    !("retired" in kek)
  );
  if (!active) throw new TypeError("keks must list at least one KEK that is not retired");
  return active;
}

/** The keys of a keyring file, token key first, with their status; never their material. */
export function listKeys(file: KeyringFile): KeyListing[] {
  const active = activeKek(file).id;
  return [
    {
      id: `token_v${file.tokenKey.version}`,
      kind: "token",
      created: file.tokenKey.created ?? file.createdAt,
      status: "active",
    },
    ...file.keks.map((kek): KeyListing => ({
      id: kek.id,
      kind: "kek",
      created: kek.created ?? file.createdAt,
      status: "retired" in kek ? "retired" : kek.id === active ? "active" : "decrypt-only",
    })),
  ];
}

/** True when the file holds secret key material: a token key's bytes or a KEK's private half. */
export function holdsSecrets(file: KeyringFile): boolean {
  return "key" in file.tokenKey || file.keks.some((kek) => "privateKey" in kek);
}

async function newKek(created: string, kmsKek: string | undefined): Promise<KekEntry> {
  const id = `kek_${crypto.getRandomValues(new Uint8Array(8)).toHex()}`;
  if (kmsKek !== undefined) return { id, created, provider: "aws-kms", keyId: kmsKek };
  const pair = await crypto.subtle.generateKey(KEK_ALGORITHM, true, ["deriveBits"]);
  return {
    id,
    created,
    algorithm: "ECDH-P256",
    publicKey: withoutUsage(await crypto.subtle.exportKey("jwk", pair.publicKey)),
    privateKey: withoutUsage(await crypto.subtle.exportKey("jwk", pair.privateKey)),
  };
}

/** Checks the shape of a keyring file; the message names the first field that is wrong. */
export function checkKeyringFile(value: unknown): KeyringFile {
  const file = value as Partial<KeyringFile> | null;
  if (file?.format !== "vaultline-keyring" || (file.version !== 1 && file.version !== 2)) {
    throw new TypeError("not a vaultline keyring of format version 1 or 2");
  }
  if (file.kind !== "full" && file.kind !== "ingest") {
    throw new TypeError('kind must be "full" or "ingest"');
  }
  if (typeof file.createdAt !== "string") throw new TypeError("createdAt must be a time");
  const token = file.tokenKey as Partial<Record<string, unknown>> | undefined;
  if (
    !token || typeof token.version !== "number" || !Number.isInteger(token.version) ||
    token.version < 1 || token.version > 99
  ) {
    throw new TypeError("tokenKey.version must be an integer from 1 to 99");
  }
  checkEntry("tokenKey", token);
  if (!Array.isArray(file.keks) || file.keks.length === 0) {
    throw new TypeError("keks must list at least one key-encryption key");
  }
  const ids = new Set<string>();
  for (const [i, kek] of (file.keks as Partial<Record<string, unknown>>[]).entries()) {
    if (typeof kek?.id !== "string" || !/^[\w-]{1,64}$/.test(kek.id)) {
      throw new TypeError(`keks[${i}].id must be 1 to 64 letters, digits, "_" or "-"`);
    }
    if (ids.has(kek.id)) throw new TypeError(`keks[${i}].id "${kek.id}" is listed twice`);
    ids.add(kek.id);
    checkEntry(`keks[${i}]`, kek);
    if (file.kind === "full" && kek.algorithm !== undefined && !kek.privateKey) {
      throw new TypeError(`keks[${i}].privateKey is missing from a full keyring`);
    }
    if (file.kind === "ingest" && kek.privateKey !== undefined) {
      throw new TypeError(`keks[${i}].privateKey does not belong in an ingest keyring`);
    }
  }
  activeKek(file as KeyringFile);
  return file as KeyringFile;
}

function checkEntry(name: string, entry: Partial<Record<string, unknown>>): void {
  if (entry.created !== undefined && typeof entry.created !== "string") {
    throw new TypeError(`${name}.created must be a time`);
  }
  if (entry.provider !== undefined) {
    if (entry.provider !== "aws-kms") throw new TypeError(`${name}.provider must be "aws-kms"`);
    if (typeof entry.keyId !== "string" || entry.keyId === "") {
      throw new TypeError(`${name}.keyId must name a KMS key`);
    }
  }
}

/**
 * Loads the keyring `value` as key providers (checking it first). Keys in AWS KMS need `kms`,
 * the client's region and endpoint; disposing the keyring closes that client.
 */
export async function importKeyring(
  value: unknown,
  options: { kms?: KmsOptions | undefined } = {},
): Promise<Keyring> {
  const file = checkKeyringFile(value);
  let kms: KmsKeys | undefined;
  const kmsKeys = async (name: string) => {
    if (!options.kms) throw new TypeError(`${name} is in AWS KMS, and no KMS client was set up`);
    const { KmsKeys } = await import("./kms_keys.ts");
    return (kms ??= new KmsKeys(options.kms));
  };
  try {
    const token = file.tokenKey;
    const tokenKey = "key" in token
      ? await fileTokenKey(decodeBase64("tokenKey.key", token.key), token.version)
      : (await kmsKeys("tokenKey")).tokenKey(token.keyId, token.version);
    const keks: KekProvider[] = [];
    for (const [i, kek] of file.keks.entries()) {
      if ("retired" in kek) continue;
      if ("keyId" in kek) {
        keks.push((await kmsKeys(`keks[${i}]`)).kek(kek.id, kek.keyId));
        continue;
      }
      checkPoint(`keks[${i}]`, kek.publicKey, kek.privateKey);
      keks.push(fileKek({
        id: kek.id,
        publicKey: await importJwk(`keks[${i}].publicKey`, kek.publicKey, []),
        privateKey: kek.privateKey
          ? await importJwk(`keks[${i}].privateKey`, kek.privateKey, ["deriveBits"])
          : undefined,
      }));
    }
    const [first, ...rest] = keks;
    if (!first) throw new TypeError("keks must list at least one KEK that is not retired");
    return {
      kind: file.kind,
      tokenKey,
      keks: [first, ...rest],
      [Symbol.dispose]: () => kms?.close(),
    };
  } catch (error) {
    kms?.close();
    throw error;
  }
}

/** Imports raw HMAC-SHA256 key bytes as a file token key of `version`. */
export async function importTokenKey(
  raw: Uint8Array<ArrayBuffer>,
  version: number,
): Promise<TokenKeyProvider> {
  return await fileTokenKey(raw, version);
}

/** How a command reads a keyring file. */
export interface ReadKeyringOptions {
  /** Accept a full keyring that group or others may read (`--allow-readable-keyring`). */
  readonly allowReadable?: boolean | undefined;
  /** Told about an ingest keyring holding the token key that group or others may read. */
  readonly warn?: ((line: string) => void) | undefined;
  readonly kms?: KmsOptions | undefined;
}

/** Reads and imports the keyring at `path`; any problem is a `KeyringError` naming the file. */
export async function readKeyring(
  path: string,
  options: ReadKeyringOptions = {},
): Promise<Keyring> {
  const file = await readKeyringFile(path, options);
  try {
    return await importKeyring(file, options);
  } catch (error) {
    throw new KeyringError(`Cannot read keyring "${path}": ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Reads and checks the keyring file at `path`, and its mode: a full keyring that group or others
 * may read or write is refused, an ingest keyring holding the token key is warned about.
 */
export async function readKeyringFile(
  path: string,
  { allowReadable = false, warn }: ReadKeyringOptions = {},
): Promise<KeyringFile> {
  let text: string;
  let mode: number | null;
  try {
    // Mode and content from one open file: a swap between the two cannot pass the check.
    using handle = await Deno.open(path, { read: true });
    mode = (await handle.stat()).mode;
    text = new TextDecoder().decode(await new Response(handle.readable).arrayBuffer());
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound ? "file not found" : messageOf(error);
    throw new KeyringError(`Cannot read keyring "${path}": ${detail}`, { cause: error });
  }
  let file: KeyringFile;
  try {
    file = checkKeyringFile(JSON.parse(text));
  } catch (error) {
    const detail = error instanceof SyntaxError ? "file is not valid JSON" : messageOf(error);
    throw new KeyringError(`Cannot read keyring "${path}": ${detail}`, { cause: error });
  }
  const permissions = (mode ?? 0) & 0o777;
  if ((permissions & 0o077) !== 0 && holdsSecrets(file)) {
    const octal = `0${permissions.toString(8)}`;
    if (file.kind === "full" && !allowReadable) {
      throw new KeyringError(
        `Cannot use keyring "${path}": a full keyring open to group or others (mode ${octal}): ` +
          `run "chmod 600 ${path}", or pass --allow-readable-keyring`,
      );
    }
    warn?.(
      `Keyring "${path}" is open to group or others (mode ${octal}) and holds secret keys: ` +
        `run "chmod 600 ${path}"`,
    );
  }
  return file;
}

/**
 * Runs `change` holding an exclusive lock on the keyring file at `path`, so that two commands
 * changing one keyring (rotate, retire) never interleave their read and their write.
 */
export async function withKeyringLock<T>(path: string, change: () => Promise<T>): Promise<T> {
  for (;;) {
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(path, { read: true });
    } catch (error) {
      const detail = error instanceof Deno.errors.NotFound ? "file not found" : messageOf(error);
      throw new KeyringError(`Cannot read keyring "${path}": ${detail}`, { cause: error });
    }
    try {
      await handle.lock(true);
      // The holder before us may have renamed a new file into place: then lock that one.
      const locked = await handle.stat();
      const current = await Deno.stat(path).catch(() => undefined);
      if (current?.ino === locked.ino && current?.dev === locked.dev) return await change();
    } finally {
      handle.close();
    }
  }
}

/** One keyring file to write: new (refusing to overwrite) or replacing the file at `path`. */
export interface KeyringWrite {
  readonly path: string;
  readonly file: KeyringFile;
  /** Replace an existing file (rotate, retire); otherwise an existing file is refused. */
  readonly replace?: boolean;
}

/**
 * Writes each keyring to its path with mode 0600, all or none: each is written whole and synced
 * to a temporary file beside its target, and only when all are written are they moved into
 * place, new files by a link that refuses to overwrite, replaced ones by a rename. A failure
 * before that leaves no file behind; a new file already placed is removed again. Two paths
 * naming one file are refused.
 */
export async function writeKeyrings(files: readonly KeyringWrite[]): Promise<void> {
  const targets = await distinctTargets(files.map((write) => write.path));
  for (const [i, target] of targets.entries()) {
    if (target.existing && !files[i]!.replace) {
      throw new KeyringError(
        `Cannot write keyring "${files[i]!.path}": file exists, refusing to overwrite`,
      );
    }
  }
  const temporary: string[] = [];
  const placed: string[] = [];
  try {
    for (const [i, { file }] of files.entries()) {
      const temp = `${targets[i]!.path}.${crypto.randomUUID()}.tmp`;
      temporary.push(temp);
      await writeSynced(temp, JSON.stringify(file, null, 2) + "\n");
    }
    for (const [i, temp] of temporary.entries()) {
      const target = targets[i]!.path;
      if (files[i]!.replace) {
        await Deno.rename(temp, target);
        continue;
      }
      try {
        await Deno.link(temp, target);
      } catch (error) {
        if (error instanceof Deno.errors.AlreadyExists) {
          throw new KeyringError(
            `Cannot write keyring "${files[i]!.path}": file exists, refusing to overwrite`,
            { cause: error },
          );
        }
        throw error;
      }
      placed.push(target);
    }
    await Promise.all([...new Set(targets.map((t) => t.dir))].map(syncDirectory));
  } catch (error) {
    await Promise.all(placed.map((path) => Deno.remove(path).catch(() => {})));
    if (error instanceof KeyringError) throw error;
    throw new KeyringError(`Cannot write keyrings: ${messageOf(error)}`, { cause: error });
  } finally {
    await Promise.all(temporary.map((path) => Deno.remove(path).catch(() => {})));
  }
}

/** Refuses, with a `KeyringError`, two of `paths` that name one file (links and `./` included). */
export async function checkDistinctFiles(paths: readonly string[]): Promise<void> {
  await distinctTargets(paths);
}

async function distinctTargets(paths: readonly string[]): Promise<Target[]> {
  const targets: Target[] = [];
  for (const path of paths) targets.push(await resolveTarget(path));
  for (const [i, target] of targets.entries()) {
    const twin = targets.findIndex((other, j) => j < i && sameFile(other, target));
    if (twin >= 0) {
      throw new KeyringError(
        `Cannot write keyrings: "${paths[twin]}" and "${paths[i]}" name the same file`,
      );
    }
  }
  return targets;
}

interface Target {
  /** The real path the file is written to: its directory resolved, a symlink followed. */
  readonly path: string;
  readonly dir: string;
  /** The existing file's identity, when there is one. */
  readonly existing: { readonly dev: number; readonly ino: number | null } | undefined;
}

/** `path` resolved, so two spellings of one file (or two links to it) compare equal. */
async function resolveTarget(path: string): Promise<Target> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const name = path.slice(slash + 1);
  if (name === "" || name === "." || name === "..") {
    throw new KeyringError(`Cannot write keyring "${path}": not a file name`);
  }
  let real: string;
  try {
    real = `${await Deno.realPath(dir)}/${name}`;
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound ? "directory not found" : messageOf(error);
    throw new KeyringError(`Cannot write keyring "${path}": ${detail}`, { cause: error });
  }
  try {
    // A symlinked keyring (a mounted secret, say) is replaced where it really lives.
    const resolved = await Deno.realPath(real);
    const info = await Deno.stat(resolved);
    if (!info.isFile) throw new KeyringError(`Cannot write keyring "${path}": not a file`);
    const at = resolved.lastIndexOf("/");
    return {
      path: resolved,
      dir: resolved.slice(0, at) || "/",
      existing: { dev: info.dev, ino: info.ino },
    };
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return { path: real, dir: real.slice(0, real.lastIndexOf("/")) || "/", existing: undefined };
  }
}

function sameFile(a: Target, b: Target): boolean {
  if (a.path === b.path) return true;
  return a.existing !== undefined && b.existing !== undefined && a.existing.ino !== null &&
    a.existing.dev === b.existing.dev && a.existing.ino === b.existing.ino;
}

async function writeSynced(path: string, text: string): Promise<void> {
  using file = await Deno.open(path, { createNew: true, write: true, mode: 0o600 });
  // The mode given at creation is narrowed by the umask only, never widened; make it exact.
  await Deno.chmod(path, 0o600);
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += await file.write(bytes.subarray(written));
  }
  await file.sync();
}

/** Makes the renames and links in `dir` durable; a platform that cannot sync a directory skips it. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.sync();
  } catch {
    // Not every platform can open or sync a directory; the files themselves are synced.
  }
}

/**
 * Checks that `publicKey` is a point on P-256 (WebCrypto imports a JWK without that check, and
 * an ECDH with a point off the curve fails, or leaks, later) and that `privateKey`, when given,
 * is its private half. OpenSSL, through node:crypto, does the checking.
 */
function checkPoint(name: string, publicKey: unknown, privateKey: unknown): void {
  let point: { x?: string | undefined; y?: string | undefined };
  try {
    const key = createPublicKey({ key: publicKey, format: "jwk" } as JsonWebKeyInput);
    if (key.asymmetricKeyDetails?.namedCurve !== "prime256v1") throw new TypeError("not P-256");
    point = key.export({ format: "jwk" });
  } catch (error) {
    throw new TypeError(`${name}.publicKey is not a point on the P-256 curve`, { cause: error });
  }
  if (privateKey === undefined) return;
  let derived: { x?: string | undefined; y?: string | undefined };
  try {
    const key = createPrivateKey({ key: privateKey, format: "jwk" } as JsonWebKeyInput);
    derived = createPublicKey(key).export({ format: "jwk" });
  } catch (error) {
    throw new TypeError(`${name}.privateKey is not a P-256 key`, { cause: error });
  }
  if (derived.x !== point.x || derived.y !== point.y) {
    throw new TypeError(`${name}.privateKey does not belong to ${name}.publicKey`);
  }
}

async function importJwk(name: string, jwk: unknown, usages: KeyUsage[]): Promise<CryptoKey> {
  try {
    return await crypto.subtle.importKey("jwk", jwk as JsonWebKey, KEK_ALGORITHM, false, usages);
  } catch (error) {
    throw new TypeError(`${name} is not a P-256 key`, { cause: error });
  }
}

function decodeBase64(name: string, value: unknown): Uint8Array<ArrayBuffer> {
  try {
    if (typeof value === "string") return Uint8Array.fromBase64(value);
  } catch {
    // Reported below with the field's name.
  }
  throw new TypeError(`${name} must be base64`);
}

function withoutUsage(jwk: JsonWebKey): JsonWebKey {
  const { key_ops: _ops, ext: _ext, alg: _alg, ...rest } = jwk;
  return rest;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
