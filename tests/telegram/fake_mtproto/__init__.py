"""A fake Telegram server speaking real MTProto over TCP, for testing Telethon code end to end.

Only the network is fake: the client is an unmodified Telethon `TelegramClient`.

    fake = FakeTelegram()
    await fake.start()
    account = fake.add_account("15550001111", password=None)
    person = fake.add_person("15550002222", first_name="Ann")

    telethon.crypto.rsa.add_key(fake.public_key_pem, old=False)
    client = TelegramClient(MemorySession(), 12345, "0123456789abcdef0123456789abcdef")
    client.session.set_dc(fake.dc_id, "127.0.0.1", fake.port)
    await client.connect()
    await client.send_code_request(account.phone)
    await client.sign_in(account.phone, fake.login_code)

    fake.person_sends(person, account, "Hi")  # pushed live as UpdateNewMessage
    other = fake.new_login(account, device="Pixel 8")  # UpdateNewAuthorization + 777000 notice
    fake.add_spambot(reply="...")  # @SpamBot answers every message with it (fake.spambot_reply)
    ...
    await client.disconnect()
    await fake.stop()

Modules: `transport` (framing), `crypto` (MTProto 2.0, RSA, AES-IGE), `handshake` (auth key
creation), `srp` (2FA check), `world` (users, message boxes, pts), `methods` (RPC methods),
`server` (connections, dispatch, the test-facing API).
"""

from .server import FakeTelegram
from .world import FakeUser, SentRecord

__all__ = ["FakeTelegram", "FakeUser", "SentRecord"]
