/** Key material: the token key and the key-encryption keys (KEKs), read from and written to JSON files. */
import { createPrivateKey, createPublicKey, type JsonWebKeyInput } from "node:crypto";

/** A keyring file that cannot be read, written or used; the message names the file. */
export class KeyringError extends Error {
  override name = "KeyringError";
}

/** The curve of every KEK: ECDH on P-256, then HKDF-SHA256 and AES key wrap (see `envelope.ts`). */
export const KEK_ALGORITHM = { name: "ECDH", namedCurve: "P-256" } as const;

/** The HMAC key behind every token; its version is part of each token. */
export interface TokenKey {
  readonly version: number;
  readonly key: CryptoKey;
}

/** A key-encryption key. Ingest keyrings hold only the public half. */
export interface Kek {
  readonly id: string;
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey | undefined;
}

/** A loaded keyring. A `full` keyring can reveal; an `ingest` keyring can only encrypt. */
export interface Keyring {
  readonly kind: "full" | "ingest";
  readonly tokenKey: TokenKey;
  /** The first KEK wraps new data keys; the others remain to unwrap older ones. */
  readonly keks: readonly [Kek, ...Kek[]];
}

/** The JSON form of a keyring file (format version 1). */
export interface KeyringFile {
  readonly format: "vaultline-keyring";
  readonly version: 1;
  readonly kind: "full" | "ingest";
  readonly createdAt: string;
  readonly tokenKey: { readonly version: number; readonly key: string };
  readonly keks: readonly {
    readonly id: string;
    readonly algorithm: "ECDH-P256";
    readonly publicKey: JsonWebKey;
    readonly privateKey?: JsonWebKey;
  }[];
}

/** Creates a new full keyring and the ingest keyring that matches it. */
export async function createKeyrings(
  now: Date = new Date(),
): Promise<{ full: KeyringFile; ingest: KeyringFile }> {
  const tokenKey = crypto.getRandomValues(new Uint8Array(32));
  const pair = await crypto.subtle.generateKey(KEK_ALGORITHM, true, ["deriveBits"]);
  const kek = {
    id: `kek_${crypto.getRandomValues(new Uint8Array(8)).toHex()}`,
    algorithm: "ECDH-P256" as const,
    publicKey: withoutUsage(await crypto.subtle.exportKey("jwk", pair.publicKey)),
  };
  const privateKey = withoutUsage(await crypto.subtle.exportKey("jwk", pair.privateKey));
  const common = {
    format: "vaultline-keyring" as const,
    version: 1 as const,
    createdAt: now.toISOString(),
    tokenKey: { version: 1, key: tokenKey.toBase64() },
  };
  return {
    full: { ...common, kind: "full", keks: [{ ...kek, privateKey }] },
    ingest: { ...common, kind: "ingest", keks: [kek] },
  };
}

/**
 * Writes each keyring to its path with mode 0600, all or none: each is written whole to a
 * temporary file beside its target, then linked into place, which fails rather than overwrite.
 * A failure removes whatever was already placed, so no keyring is left alone or half-written.
 */
export async function writeKeyrings(
  files: readonly { readonly path: string; readonly file: KeyringFile }[],
): Promise<void> {
  const targets = await Promise.all(files.map(({ path }) => resolveTarget(path)));
  if (new Set(targets).size !== targets.length) {
    throw new KeyringError(
      `Cannot write keyrings: two paths name the same file "${files[0]?.path}"`,
    );
  }
  const temporary: string[] = [];
  const placed: string[] = [];
  try {
    for (const [i, { file }] of files.entries()) {
      const target = targets[i]!;
      const temp = `${target}.${crypto.randomUUID()}.tmp`;
      temporary.push(temp);
      await Deno.writeTextFile(temp, JSON.stringify(file, null, 2) + "\n", {
        createNew: true,
        mode: 0o600,
      });
      // The mode given at creation is narrowed by the umask only, never widened; make it exact.
      await Deno.chmod(temp, 0o600);
    }
    for (const [i, temp] of temporary.entries()) {
      const target = targets[i]!;
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
  } catch (error) {
    await Promise.all(placed.map((path) => Deno.remove(path).catch(() => {})));
    if (error instanceof KeyringError) throw error;
    throw new KeyringError(`Cannot write keyrings: ${(error as Error).message}`, { cause: error });
  } finally {
    await Promise.all(temporary.map((path) => Deno.remove(path).catch(() => {})));
  }
}

/** `path` with its directory resolved, so two spellings of one file compare equal. */
async function resolveTarget(path: string): Promise<string> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const name = path.slice(slash + 1);
  if (name === "" || name === "." || name === "..") {
    throw new KeyringError(`Cannot write keyring "${path}": not a file name`);
  }
  try {
    return `${await Deno.realPath(dir)}/${name}`;
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound ? "directory not found" : String(error);
    throw new KeyringError(`Cannot write keyring "${path}": ${detail}`, { cause: error });
  }
}

/** Reads and imports the keyring at `path`; any problem is a `KeyringError` naming the file. */
export async function readKeyring(path: string): Promise<Keyring> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const detail = error instanceof Deno.errors.NotFound ? "file not found" : String(error);
    throw new KeyringError(`Cannot read keyring "${path}": ${detail}`, { cause: error });
  }
  try {
    return await importKeyring(JSON.parse(text));
  } catch (error) {
    const detail = error instanceof SyntaxError
      ? "file is not valid JSON"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new KeyringError(`Cannot read keyring "${path}": ${detail}`, { cause: error });
  }
}

/** Imports the JSON form of a keyring into non-extractable WebCrypto keys. */
export async function importKeyring(value: unknown): Promise<Keyring> {
  const file = value as Partial<KeyringFile> | null;
  if (file?.format !== "vaultline-keyring" || file.version !== 1) {
    throw new TypeError("not a vaultline keyring of format version 1");
  }
  if (file.kind !== "full" && file.kind !== "ingest") {
    throw new TypeError('kind must be "full" or "ingest"');
  }
  const token = file.tokenKey;
  if (!token || !Number.isInteger(token.version) || token.version < 1 || token.version > 99) {
    throw new TypeError("tokenKey.version must be an integer from 1 to 99");
  }
  const tokenKey = await importTokenKey(decodeBase64("tokenKey.key", token.key), token.version);
  if (!Array.isArray(file.keks) || file.keks.length === 0) {
    throw new TypeError("keks must list at least one key-encryption key");
  }
  const [first, ...rest] = await Promise.all(file.keks.map(async (kek, i): Promise<Kek> => {
    if (typeof kek?.id !== "string" || !/^[\w-]{1,64}$/.test(kek.id)) {
      throw new TypeError(`keks[${i}].id must be 1 to 64 letters, digits, "_" or "-"`);
    }
    if (file.kind === "full" && !kek.privateKey) {
      throw new TypeError(`keks[${i}].privateKey is missing from a full keyring`);
    }
    checkPoint(`keks[${i}]`, kek.publicKey, file.kind === "full" ? kek.privateKey : undefined);
    return {
      id: kek.id,
      publicKey: await importJwk(`keks[${i}].publicKey`, kek.publicKey, []),
      privateKey: file.kind === "full" && kek.privateKey
        ? await importJwk(`keks[${i}].privateKey`, kek.privateKey, ["deriveBits"])
        : undefined,
    };
  }));
  if (!first) throw new TypeError("keks must list at least one key-encryption key");
  return { kind: file.kind, tokenKey, keks: [first, ...rest] };
}

/** Imports raw HMAC-SHA256 key bytes as a token key of `version`. */
export async function importTokenKey(
  raw: Uint8Array<ArrayBuffer>,
  version: number,
): Promise<TokenKey> {
  if (raw.length < 32) throw new TypeError("tokenKey.key must hold at least 32 bytes");
  const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  return { version, key };
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
