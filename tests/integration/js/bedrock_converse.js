// The AWS SDK for JavaScript v3 Bedrock Runtime client in its default configuration (its request
// handler is NodeHttp2Handler: HTTP/2 only) with a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK):
// Converse, ConverseStream, then InvokeModelWithResponseStream with an Anthropic body. Prints one
// JSON object for the Python test to compare.
const {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  InvokeModelWithResponseStreamCommand,
} = require("@aws-sdk/client-bedrock-runtime");

async function main() {
  const client = new BedrockRuntimeClient({ region: "us-east-1", endpoint: process.env.GATEWAY_BEDROCK_URL });
  const handler = client.config.requestHandler.constructor.name;
  const messages = [{ role: "user", content: [{ text: "hi" }] }];
  const reply = await client.send(new ConverseCommand({ modelId: "fake-gpt", messages }));
  const stream = await client.send(new ConverseStreamCommand({ modelId: "fake-gpt", messages }));
  const events = [];
  for await (const event of stream.stream) {
    const [name] = Object.keys(event);
    if (name === "metadata") delete event.metadata.metrics.latencyMs; // measured, so not compared
    events.push(event);
  }
  const claude = { anthropic_version: "bedrock-2023-05-31", max_tokens: 50, messages: [{ role: "user", content: "hi" }] };
  const invoked = await client.send(
    new InvokeModelWithResponseStreamCommand({ modelId: "fake-gpt", body: JSON.stringify(claude) }),
  );
  const chunks = { types: [], text: "" };
  for await (const event of invoked.body) {
    const chunk = JSON.parse(Buffer.from(event.chunk.bytes).toString());
    chunks.types.push(chunk.type);
    if (chunk.type === "content_block_delta") chunks.text += chunk.delta.text;
  }
  client.destroy();
  const text = reply.output.message.content.map((block) => block.text).join("");
  console.log(JSON.stringify({ handler, converse: { text, stopReason: reply.stopReason }, events, chunks }));
}

main().catch((error) => {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
  process.exit(1);
});
