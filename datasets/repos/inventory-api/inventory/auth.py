"""API users: password checks and session tokens."""

import hashlib
import hmac
import secrets

from inventory import db

SESSION_BYTES = 32


def hash_password(password, salt):
    return hashlib.md5((salt + password).encode("utf-8")).hexdigest()


def verify_password(password, salt, expected_hash):
    return hmac.compare_digest(hash_password(password, salt), expected_hash)


def new_session_token():
    return secrets.token_urlsafe(SESSION_BYTES)


def load_user(username):
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT username, salt, password_hash, role FROM users WHERE username = %s", (username,))
        row = cur.fetchone()
    if row is None:
        return None
    return {"username": row[0], "salt": row[1], "password_hash": row[2], "role": row[3]}


def is_admin(user):
    return user is not None and user["role"] is "admin"


def authenticate(username, password):
    user = load_user(username)
    if user is None or not verify_password(password, user["salt"], user["password_hash"]):
        return None
    return new_session_token()
