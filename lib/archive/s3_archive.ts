/** The S3 edge of the archive: where a month's file goes, and upload, download, head, delete. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { ConfigError } from "../config_error.ts";
import type { Month } from "../record/month.ts";

/** A bucket and a key prefix, from `s3://BUCKET/PREFIX`. */
export interface S3Location {
  readonly bucket: string;
  /** Without leading or trailing slashes; may be empty. */
  readonly prefix: string;
}

/** An uploaded object's identity, to tell later that it is still the one uploaded. */
export interface ObjectInfo {
  readonly etag: string;
  readonly size: number;
}

/** S3 takes parts of 5 MiB to 5 GiB, at most 10,000 of them: 64 MiB parts carry 640 GiB. */
export const DEFAULT_PART_SIZE = 64 * 1024 * 1024;
const MIN_PART_SIZE = 5 * 1024 * 1024;

/** Reads `s3://BUCKET/PREFIX` given as `option`; a `ConfigError` naming it otherwise. */
export function parseS3Url(option: string, value: string): S3Location {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(\/.*)?$/.exec(value);
  if (!match) {
    throw new ConfigError(
      `Invalid ${option} "${value}": expected s3://BUCKET/PREFIX with a valid bucket name`,
    );
  }
  return { bucket: match[1]!, prefix: (match[2] ?? "").replace(/^\/+|\/+$/g, "") };
}

/** The key of `month`'s file: `PREFIX/user_logins/month=YYYY-MM/part-0.parquet`. */
export function monthKey(location: S3Location, month: Month): string {
  const path = `user_logins/month=${month}/part-0.parquet`;
  return location.prefix === "" ? path : `${location.prefix}/${path}`;
}

/** `s3://bucket/key`, for messages. */
export function s3Url(bucket: string, key = ""): string {
  return `s3://${bucket}/${key}`;
}

/** An S3 client for the archive; credentials come from the AWS chain unless given. */
export class S3Archive {
  readonly #client: S3Client;
  readonly #partSize: number;

  constructor(options: {
    region: string;
    /** An S3-compatible endpoint (an emulator, MinIO): addressed path-style. */
    endpoint?: string | undefined;
    credentials?: { accessKeyId: string; secretAccessKey: string } | undefined;
    /** Files larger than this go up in parts of this size (default 64 MiB, at least 5 MiB). */
    partSize?: number | undefined;
    /** Attempts of each call, the SDK's retries included (default 3). */
    maxAttempts?: number | undefined;
  }) {
    this.#partSize = Math.max(options.partSize ?? DEFAULT_PART_SIZE, MIN_PART_SIZE);
    this.#client = new S3Client({
      region: options.region,
      ...(options.endpoint === undefined
        ? {}
        : { endpoint: options.endpoint, forcePathStyle: true }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
      ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }),
    });
  }

  /** Uploads the file at `path` to `bucket`/`key`, in parts when it is large. */
  async upload(bucket: string, key: string, path: string): Promise<ObjectInfo> {
    const { size } = await Deno.stat(path);
    try {
      const etag = size <= this.#partSize
        ? (await this.#client.send(
          new PutObjectCommand({ Bucket: bucket, Key: key, Body: await Deno.readFile(path) }),
        )).ETag
        : await this.#uploadParts(bucket, key, path);
      if (!etag) throw new Error("S3 returned no ETag");
      return { etag, size };
    } catch (error) {
      throw edgeError(`Cannot upload "${s3Url(bucket, key)}"`, error);
    }
  }

  /** Downloads `bucket`/`key` into the file at `path`. */
  async download(bucket: string, key: string, path: string): Promise<ObjectInfo> {
    try {
      const output = await this.#client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if (!output.Body || !output.ETag) throw new Error("S3 returned no body or ETag");
      await using file = await Deno.open(path, { write: true, create: true, truncate: true });
      await output.Body.transformToWebStream().pipeTo(file.writable);
      return { etag: output.ETag, size: (await Deno.stat(path)).size };
    } catch (error) {
      throw edgeError(`Cannot download "${s3Url(bucket, key)}"`, error);
    }
  }

  /** The object's ETag and size; undefined when there is no such object. */
  async head(bucket: string, key: string): Promise<ObjectInfo | undefined> {
    try {
      const output = await this.#client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return { etag: output.ETag ?? "", size: output.ContentLength ?? -1 };
    } catch (error) {
      if ((error as { name?: string }).name === "NotFound") return undefined;
      throw edgeError(`Cannot read "${s3Url(bucket, key)}"`, error);
    }
  }

  /** Deletes `bucket`/`key`; deleting a missing object succeeds. */
  async delete(bucket: string, key: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    } catch (error) {
      throw edgeError(`Cannot delete "${s3Url(bucket, key)}"`, error);
    }
  }

  /** Closes the client's connections. */
  close(): void {
    this.#client.destroy();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async #uploadParts(bucket: string, key: string, path: string): Promise<string | undefined> {
    const { UploadId: uploadId } = await this.#client.send(
      new CreateMultipartUploadCommand({ Bucket: bucket, Key: key }),
    );
    if (!uploadId) throw new Error("S3 returned no upload id");
    try {
      const parts: { ETag: string; PartNumber: number }[] = [];
      await using file = await Deno.open(path, { read: true });
      const buffer = new Uint8Array(this.#partSize);
      for (let number = 1;; number++) {
        let filled = 0;
        while (filled < buffer.length) {
          const read = await file.read(buffer.subarray(filled));
          if (read === null) break;
          filled += read;
        }
        if (filled === 0) break;
        const { ETag } = await this.#client.send(
          new UploadPartCommand({
            Bucket: bucket,
            Key: key,
            UploadId: uploadId,
            PartNumber: number,
            Body: buffer.slice(0, filled),
          }),
        );
        if (!ETag) throw new Error(`S3 returned no ETag for part ${number}`);
        parts.push({ ETag, PartNumber: number });
        if (filled < buffer.length) break;
      }
      const done = await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
      return done.ETag;
    } catch (error) {
      // Parts of an upload never completed are billed until aborted (or a lifecycle rule).
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId }),
      ).catch(() => {});
      throw error;
    }
  }
}

/** An S3 or file error with what was being done; the SDK's name and message are safe to show. */
function edgeError(action: string, error: unknown): Error {
  const name = (error as { name?: string }).name;
  const message = error instanceof Error ? error.message.split("\n")[0] : String(error);
  return new Error(`${action}: ${name && name !== "Error" ? `${name}: ` : ""}${message}`, {
    cause: error,
  });
}
