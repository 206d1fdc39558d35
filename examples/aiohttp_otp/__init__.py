"""The aiohttp.web OTP example: ``python -m examples.aiohttp_otp``."""
