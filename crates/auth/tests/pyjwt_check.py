"""An independent check of joule-auth with PyJWT (run by crates/auth/tests/pyjwt.rs).

    pyjwt_check.py DIR

DIR holds what the Rust test wrote: `joule.jwt` (a token Joule issued), `jwks.json` (Joule's
JWKS) and `expect.json` (issuer, audience and the claims the token must carry). This script
1. verifies the token with PyJWT's PyJWKClient (kid lookup in the JWKS) and jwt.decode (EdDSA),
   and checks that PyJWT refuses it for another audience and with a flipped signature byte;
2. makes an RSA 2048 and a P-256 key with `cryptography`, signs one RS256 and one ES256 token as
   an external OpenID Connect issuer would (claims from expect.json's `external`), and writes
   them with their JWKS (`external.jwks.json`, `external_rs256.jwt`, `external_es256.jwt`) for
   the Rust verifier to accept.
It prints a JSON summary and exits non-zero on any failure.
"""

import json
import pathlib
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def check_joule_token(directory: pathlib.Path, expect: dict) -> dict:
    token = (directory / "joule.jwt").read_text().strip()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA", header
    assert header["typ"] == "JWT", header
    client = jwt.PyJWKClient((directory / "jwks.json").resolve().as_uri(), cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(token)
    assert signing_key.key_id == header["kid"], (signing_key.key_id, header)
    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        audience=expect["audience"],
        issuer=expect["issuer"],
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti"]},
    )
    for name, value in expect["claims"].items():
        assert claims[name] == value, (name, claims[name], value)
    try:
        jwt.decode(token, signing_key.key, algorithms=["EdDSA"], audience="someone-else",
                   issuer=expect["issuer"])
        raise AssertionError("PyJWT accepted the token for another audience")
    except jwt.InvalidAudienceError:
        pass
    head, payload, signature = token.split(".")
    raw = bytearray(jwt.utils.base64url_decode(signature))
    raw[7] ^= 0x01
    flipped = ".".join([head, payload, jwt.utils.base64url_encode(bytes(raw)).decode()])
    try:
        jwt.decode(flipped, signing_key.key, algorithms=["EdDSA"], audience=expect["audience"])
        raise AssertionError("PyJWT accepted a token with a flipped signature byte")
    except jwt.InvalidSignatureError:
        pass
    return claims


def sign_external_tokens(directory: pathlib.Path, expect: dict) -> list:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for kid, alg, key, to_jwk in [
        ("py-rsa", "RS256", rsa_key, RSAAlgorithm.to_jwk),
        ("py-ec", "ES256", ec_key, ECAlgorithm.to_jwk),
    ]:
        jwk = to_jwk(key.public_key(), as_dict=True)
        jwk.update({"kid": kid, "alg": alg, "use": "sig"})
        keys.append(jwk)
        now = int(time.time())
        claims = dict(expect["external"]["claims"], iat=now, nbf=now, exp=now + 300)
        token = jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})
        (directory / f"external_{alg.lower()}.jwt").write_text(token)
    (directory / "external.jwks.json").write_text(json.dumps({"keys": keys}))
    return [k["kid"] for k in keys]


def main() -> None:
    directory = pathlib.Path(sys.argv[1])
    expect = json.loads((directory / "expect.json").read_text())
    claims = check_joule_token(directory, expect)
    kids = sign_external_tokens(directory, expect)
    print(json.dumps({"pyjwt": jwt.__version__, "joule_claims": claims, "external_kids": kids}))


if __name__ == "__main__":
    main()
