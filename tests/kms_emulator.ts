/**
 * A small AWS KMS on loopback for tests: the JSON protocol of `TrentService.GenerateDataKey`,
 * `Encrypt`, `Decrypt`, `GenerateMac` and `VerifyMac`, with real AES-256-GCM and HMAC-SHA256
 * from node:crypto, and a per-access-key allow list of actions standing in for IAM policies.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from "node:crypto";
import { Buffer } from "node:buffer";

/** The kinds of KMS key the emulator holds. */
export type KmsKeySpec = "SYMMETRIC_DEFAULT" | "HMAC_256";

interface EmulatedKey {
  readonly id: string;
  readonly arn: string;
  readonly spec: KmsKeySpec;
  readonly material: Buffer;
}

const REGION = "us-east-1";
const ACCOUNT = "000000000000";
const BLOB_VERSION = 1;

/** A KMS emulator on 127.0.0.1; `close()` stops it. */
export class KmsEmulator implements AsyncDisposable {
  readonly endpoint: string;
  /** Calls answered, by action (`GenerateMac`, `Decrypt` ...), refused ones included. */
  readonly calls = new Map<string, number>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #keys = new Map<string, EmulatedKey>();
  /** Access key id → the actions it may call; an access key not listed may call any. */
  readonly #allowed = new Map<string, ReadonlySet<string>>();

  private constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => this.#handle(request),
    );
    this.endpoint = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  static start(): KmsEmulator {
    return new KmsEmulator();
  }

  /** Creates a key; `material` sets its bytes (as if imported), else they are random. */
  createKey(spec: KmsKeySpec, material?: Uint8Array): string {
    const id = crypto.randomUUID();
    const arn = `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`;
    this.#keys.set(id, {
      id,
      arn,
      spec,
      material: Buffer.from(material ?? randomBytes(32)),
    });
    return arn;
  }

  /** Lets `accessKeyId` call only `actions`, as an IAM policy would. */
  allow(accessKeyId: string, actions: readonly string[]): void {
    this.#allowed.set(accessKeyId, new Set(actions));
  }

  /** Calls answered for `action`. */
  count(action: string): number {
    return this.calls.get(action) ?? 0;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #handle(request: Request): Promise<Response> {
    const action = request.headers.get("x-amz-target")?.replace(/^TrentService\./, "") ?? "";
    this.calls.set(action, this.count(action) + 1);
    const body = JSON.parse(await request.text() || "{}") as Record<string, unknown>;
    const accessKey = /Credential=([^/]+)\//.exec(request.headers.get("authorization") ?? "")?.[1];
    const allowed = accessKey === undefined ? undefined : this.#allowed.get(accessKey);
    if (allowed && !allowed.has(action)) {
      return fault(
        "AccessDeniedException",
        `User ${accessKey} is not authorized to perform: kms:${action}`,
      );
    }
    try {
      switch (action) {
        case "GenerateDataKey":
          return this.#generateDataKey(body);
        case "Encrypt":
          return this.#encrypt(body);
        case "Decrypt":
          return this.#decrypt(body);
        case "GenerateMac":
          return this.#generateMac(body);
        case "VerifyMac":
          return this.#verifyMac(body);
        default:
          return fault("UnsupportedOperationException", `Action ${action} is not emulated`);
      }
    } catch (error) {
      if (error instanceof KmsFault) return fault(error.type, error.message);
      throw error;
    }
  }

  #generateDataKey(body: Record<string, unknown>): Response {
    const key = this.#key(body.KeyId, "SYMMETRIC_DEFAULT");
    const bytes = body.KeySpec === "AES_128" ? 16 : Number(body.NumberOfBytes ?? 32);
    const plaintext = randomBytes(bytes);
    return answer({
      KeyId: key.arn,
      Plaintext: plaintext.toString("base64"),
      CiphertextBlob: seal(key, plaintext, body.EncryptionContext).toString("base64"),
    });
  }

  #encrypt(body: Record<string, unknown>): Response {
    const key = this.#key(body.KeyId, "SYMMETRIC_DEFAULT");
    const plaintext = base64("Plaintext", body.Plaintext);
    return answer({
      KeyId: key.arn,
      CiphertextBlob: seal(key, plaintext, body.EncryptionContext).toString("base64"),
      EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
    });
  }

  #decrypt(body: Record<string, unknown>): Response {
    const blob = base64("CiphertextBlob", body.CiphertextBlob);
    if (blob.length < 1 + 36 + 12 + 16 || blob[0] !== BLOB_VERSION) {
      throw new KmsFault("InvalidCiphertextException", "The ciphertext is invalid");
    }
    const key = this.#keys.get(blob.subarray(1, 37).toString("ascii"));
    if (!key) throw new KmsFault("InvalidCiphertextException", "The ciphertext is invalid");
    if (body.KeyId !== undefined && this.#key(body.KeyId, "SYMMETRIC_DEFAULT") !== key) {
      throw new KmsFault("IncorrectKeyException", "The key is not the one the ciphertext names");
    }
    const decipher = createDecipheriv("aes-256-gcm", key.material, blob.subarray(37, 49));
    decipher.setAAD(contextBytes(body.EncryptionContext));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    let plaintext: Buffer;
    try {
      plaintext = Buffer.concat([
        decipher.update(blob.subarray(49, blob.length - 16)),
        decipher.final(),
      ]);
    } catch {
      // What real KMS says for a wrong encryption context, too.
      throw new KmsFault("InvalidCiphertextException", "The ciphertext is invalid");
    }
    return answer({
      KeyId: key.arn,
      Plaintext: plaintext.toString("base64"),
      EncryptionAlgorithm: "SYMMETRIC_DEFAULT",
    });
  }

  #generateMac(body: Record<string, unknown>): Response {
    const key = this.#macKey(body);
    return answer({
      KeyId: key.arn,
      MacAlgorithm: "HMAC_SHA_256",
      Mac: this.#mac(key, body).toString("base64"),
    });
  }

  #verifyMac(body: Record<string, unknown>): Response {
    const key = this.#macKey(body);
    const given = base64("Mac", body.Mac);
    const mac = this.#mac(key, body);
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) {
      throw new KmsFault("KMSInvalidMacException", "The MAC is not valid");
    }
    return answer({ KeyId: key.arn, MacAlgorithm: "HMAC_SHA_256", MacValid: true });
  }

  #macKey(body: Record<string, unknown>): EmulatedKey {
    const key = this.#key(body.KeyId, "HMAC_256");
    if (body.MacAlgorithm !== "HMAC_SHA_256") {
      throw new KmsFault("InvalidKeyUsageException", `MacAlgorithm must be HMAC_SHA_256`);
    }
    return key;
  }

  #mac(key: EmulatedKey, body: Record<string, unknown>): Buffer {
    const message = base64("Message", body.Message);
    if (message.length < 1 || message.length > 4096) {
      throw new KmsFault("ValidationException", "Message must be 1 to 4096 bytes");
    }
    return createHmac("sha256", key.material).update(message).digest();
  }

  #key(keyId: unknown, spec: KmsKeySpec): EmulatedKey {
    const id = typeof keyId === "string" ? keyId.replace(/^arn:aws:kms:[^:]+:\d+:key\//, "") : "";
    const key = this.#keys.get(id);
    if (!key) throw new KmsFault("NotFoundException", `Key '${String(keyId)}' does not exist`);
    if (key.spec !== spec) {
      throw new KmsFault("InvalidKeyUsageException", `Key '${key.arn}' is not a ${spec} key`);
    }
    return key;
  }
}

class KmsFault extends Error {
  constructor(readonly type: string, message: string) {
    super(message);
  }
}

/** The ciphertext blob: version, key id, nonce, AES-256-GCM ciphertext and tag. */
function seal(key: EmulatedKey, plaintext: Buffer, context: unknown): Buffer {
  const nonce = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", key.material, nonce);
  cipher.setAAD(contextBytes(context));
  const sealed = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  return Buffer.concat([Buffer.from([BLOB_VERSION]), Buffer.from(key.id, "ascii"), nonce, sealed]);
}

/** An encryption context as associated data: its pairs sorted, so their order does not matter. */
function contextBytes(context: unknown): Buffer {
  const pairs = Object.entries((context ?? {}) as Record<string, string>).sort(([a], [b]) =>
    a < b ? -1 : a > b ? 1 : 0
  );
  return Buffer.from(JSON.stringify(pairs));
}

function base64(name: string, value: unknown): Buffer {
  if (typeof value !== "string") throw new KmsFault("ValidationException", `${name} is required`);
  return Buffer.from(value, "base64");
}

function answer(body: Record<string, unknown>): Response {
  return Response.json(body, { headers: { "content-type": "application/x-amz-json-1.1" } });
}

function fault(type: string, message: string): Response {
  return Response.json({ __type: type, message }, {
    status: 400,
    headers: { "content-type": "application/x-amz-json-1.1" },
  });
}
