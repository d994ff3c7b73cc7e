// The AWS SDK for JavaScript v3 Bedrock Runtime client, default configuration (HTTP/2 handler),
// with a Bedrock API key (AWS_BEARER_TOKEN_BEDROCK): converse, then converse-stream; prints JSON.
const { BedrockRuntimeClient, ConverseCommand, ConverseStreamCommand } = require("@aws-sdk/client-bedrock-runtime");

async function main() {
  const client = new BedrockRuntimeClient({ region: "us-east-1", endpoint: process.env.GATEWAY_BEDROCK_URL });
  const messages = [{ role: "user", content: [{ text: "hi" }] }];
  const reply = await client.send(new ConverseCommand({ modelId: "fake-gpt", messages }));
  const stream = await client.send(new ConverseStreamCommand({ modelId: "fake-gpt", messages }));
  const events = [];
  for await (const event of stream.stream) events.push(Object.keys(event)[0]);
  client.destroy();
  console.log(JSON.stringify({ text: reply.output.message.content[0].text, stopReason: reply.stopReason, events }));
}

main().catch((error) => {
  console.log(JSON.stringify({ error: error.name, message: error.message }));
  process.exit(1);
});
