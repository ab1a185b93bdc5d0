"""Local servers that speak the OpenAI and Anthropic streaming wire formats, for tests that
drive the real SDKs over a real socket with a scripted fault per case."""
