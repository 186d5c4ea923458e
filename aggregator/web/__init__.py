"""The HTTP face: the Starlette app and the uvicorn server it runs under."""
