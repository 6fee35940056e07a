"""The voice path: audio decoding, speech to text, personas, text to speech, and the per-process engines."""
