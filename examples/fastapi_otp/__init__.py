"""The FastAPI OTP example: ``python -m examples.fastapi_otp``."""
