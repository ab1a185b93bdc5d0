"""The streaming chat API (POST /chat over Server-Sent Events) on the app's own port."""
