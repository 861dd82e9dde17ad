import assert from "node:assert/strict";
import { ClassifiedError, type FailureKind } from "../lib/failure.ts";
import { SqsQueue } from "../lib/queue/sqs_queue.ts";
import { EmbeddedSqs } from "../lib/sandbox/embedded_sqs.ts";
import { SqsProxy } from "./sqs_proxy.ts";

/** Text an SDK error carries that must never reach a classified message. */
const MARKER = "value-203.0.113.7";

/** An SQS JSON-protocol error response, as AWS sends one. */
function awsError(status: number, type: string, queryCode: string): Response {
  return Response.json({ __type: type, message: `Refused ${MARKER}` }, {
    status,
    headers: {
      "content-type": "application/x-amz-json-1.0",
      "x-amzn-query-error": `${queryCode};Sender`,
    },
  });
}

function queueAt(endpoint: string, path: string): SqsQueue {
  return new SqsQueue(`${endpoint}${path}`, {
    region: "us-east-1",
    endpoint,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
}

async function classified(call: Promise<unknown>): Promise<ClassifiedError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof ClassifiedError, `not classified: ${error}`);
    assert.ok(!error.message.includes(MARKER), `the SDK's text leaked: ${error.message}`);
    return error;
  }
  throw new Error("the call did not fail");
}

Deno.test("SqsQueue reports a queue that does not exist as permanent, naming SQS_QUEUE_URL", async () => {
  await using sqs = await EmbeddedSqs.start();
  const path = new URL(sqs.createQueue("real")).pathname.replace(/real$/, "missing");
  const queue = queueAt(sqs.endpoint, path);
  try {
    for (
      const call of [queue.receive({ max: 1, waitSeconds: 0, visibilitySeconds: 5 }), queue.depth()]
    ) {
      const error = await classified(call);
      assert.equal(error.kind, "permanent");
      assert.equal(error.code, "AWS.SimpleQueueService.NonExistentQueue");
      assert.equal(
        error.message,
        `Cannot use SQS_QUEUE_URL "${queue.url}": the queue does not exist ` +
          "(AWS.SimpleQueueService.NonExistentQueue)",
      );
    }
  } finally {
    queue.close();
  }
});

Deno.test("SqsQueue classifies what AWS refuses: denied and bad credentials are permanent, a limit transient", async (t) => {
  await using sqs = await EmbeddedSqs.start();
  const path = new URL(sqs.createQueue("q")).pathname;
  const cases: [string, () => Response, FailureKind, RegExp][] = [
    [
      "access denied",
      () => awsError(403, "com.amazon.coral.service#AccessDeniedException", "AccessDenied"),
      "permanent",
      /^Cannot receive messages on SQS_QUEUE_URL "[^"]+": access denied \(AccessDenied\); grant/,
    ],
    [
      "an unknown access key",
      () => awsError(403, "com.amazon.coral.service#InvalidClientTokenId", "InvalidClientTokenId"),
      "permanent",
      /^Cannot reach SQS_QUEUE_URL "[^"]+": AWS refused the credentials \(InvalidClientTokenId\)$/,
    ],
    [
      "too many messages in flight, a 403 that heals",
      () => awsError(403, "com.amazonaws.sqs#OverLimit", "OverLimit"),
      "transient",
      /^OverLimit \(HTTP 403\)$/,
    ],
  ];
  for (const [name, respond, kind, pattern] of cases) {
    await t.step(name, async () => {
      await using proxy = SqsProxy.start(
        sqs.endpoint,
        (action) => action === "ReceiveMessage" ? respond() : undefined,
      );
      const queue = queueAt(proxy.endpoint, path);
      try {
        const error = await classified(
          queue.receive({ max: 1, waitSeconds: 0, visibilitySeconds: 5 }),
        );
        assert.equal(error.kind, kind);
        assert.match(error.message, pattern);
      } finally {
        queue.close();
      }
    });
  }
});

Deno.test("SqsQueue reports a refused connection as transient, by its system code", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  const queue = queueAt(`http://127.0.0.1:${port}`, "/000000000000/q");
  try {
    const error = await classified(queue.receive({ max: 1, waitSeconds: 0, visibilitySeconds: 5 }));
    assert.deepEqual([error.kind, error.code, error.message], [
      "transient",
      "ECONNREFUSED",
      "ECONNREFUSED",
    ]);
  } finally {
    queue.close();
  }
});
