"""Registration policy: greeting and stop-word matching, and the gateway's reply texts.

Pure functions and values only (no I/O):

- :func:`normalize` turns a message into the form that greetings and stop words are compared in.
- :class:`GreetingMatcher` says whether a whole message is a configured greeting or stop word,
  and in which language.
- :func:`reply_text` gives the gateway's answer in that language (English fallback).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

__all__ = [
    "DEFAULT_GREETINGS",
    "DEFAULT_STOP_WORDS",
    "LANGUAGES",
    "REPLY_KINDS",
    "GreetingMatcher",
    "Match",
    "ReplyKind",
    "normalize",
    "reply_text",
]

FALLBACK_LANGUAGE: Final = "en"

LANGUAGES: Final[tuple[str, ...]] = (
    "en",
    "zh",
    "ja",
    "nl",
    "it",
    "id",
    "de",
    "es",
    "pt",
    "fr",
    "ru",
    "uk",
    "hi",
    "he",
    "ar",
)

ReplyKind = Literal[
    "registered",
    "already_registered",
    "share_contact",
    "contact_refused",
    "full",
    "stopped",
    "hint",
]
REPLY_KINDS: Final[tuple[ReplyKind, ...]] = get_args(ReplyKind)

# The 19 default greetings of the FAQ, with the language each one is answered in.
# "Ching" is a romanisation of unknown origin: it is answered in English.
_DEFAULT_GREETING_LANGUAGES: Final[tuple[tuple[str, str], ...]] = (
    ("Hi", "en"),
    ("嗨", "zh"),
    ("你好", "zh"),
    ("安安", "zh"),
    ("こんにちは", "ja"),
    ("ハイ", "ja"),
    ("Ching", "en"),
    ("Ciao", "it"),
    ("Hai", "id"),
    ("Hallo", "de"),
    ("Hola", "es"),
    ("Hoi", "nl"),
    ("Oi", "pt"),
    ("Salut", "fr"),
    ("Здравствуй", "ru"),
    ("Привіт", "uk"),
    ("नमस्ते", "hi"),
    ("היי", "he"),
    ("مرحبا", "ar"),
)

# Common variants: they are never matched unless an operator configures them, but when they
# are configured they are answered in the right language instead of the English fallback.
_VARIANT_GREETING_LANGUAGES: Final[tuple[tuple[str, str], ...]] = (
    ("Hello", "en"),
    ("Hey", "en"),
    ("您好", "zh"),
    ("哈囉", "zh"),
    ("哈喽", "zh"),
    ("こんばんは", "ja"),
    ("おはよう", "ja"),
    ("Dag", "nl"),
    ("Salve", "it"),
    ("Halo", "id"),
    ("Selamat pagi", "id"),
    ("Servus", "de"),
    ("Moin", "de"),
    ("Guten Tag", "de"),
    ("Buenas", "es"),
    ("Buenos días", "es"),
    ("Olá", "pt"),
    ("Bonjour", "fr"),
    ("Coucou", "fr"),
    ("Привет", "ru"),
    ("Здравствуйте", "ru"),
    ("Вітаю", "uk"),
    ("Добрий день", "uk"),
    ("Namaste", "hi"),
    ("नमस्कार", "hi"),
    ("שלום", "he"),
    ("Shalom", "he"),
    ("السلام عليكم", "ar"),
    ("أهلا", "ar"),
)

# Built-in stop words with their languages; the first entry of a language is the one its
# replies tell people to send. When a word belongs to several languages the first entry wins:
# 停止 is answered in Chinese (Japanese replies advertise ストップ) and СТОП in Russian
# (Ukrainian replies advertise ЗУПИНИТИ).
_STOP_WORD_LANGUAGES: Final[tuple[tuple[str, str], ...]] = (
    ("STOP", "en"),
    ("UNSUBSCRIBE", "en"),
    ("停止", "zh"),
    ("退订", "zh"),
    ("ストップ", "ja"),
    ("停止", "ja"),
    ("STOPPEN", "nl"),
    ("BASTA", "it"),
    ("BERHENTI", "id"),
    ("STOPP", "de"),
    ("ALTO", "es"),
    ("BAJA", "es"),
    ("PARAR", "pt"),
    ("SAIR", "pt"),
    ("ARRÊT", "fr"),
    ("ARRET", "fr"),
    ("СТОП", "ru"),
    ("СТОП", "uk"),
    ("ЗУПИНИТИ", "uk"),
    ("रोकें", "hi"),
    ("עצור", "he"),
    ("توقف", "ar"),
)

DEFAULT_GREETINGS: Final[tuple[str, ...]] = tuple(word for word, _ in _DEFAULT_GREETING_LANGUAGES)
DEFAULT_STOP_WORDS: Final[tuple[str, ...]] = tuple(
    dict.fromkeys(word for word, _ in _STOP_WORD_LANGUAGES)
)

# Code points that carry no meaning at the ends of a message besides punctuation (P*), symbols
# (S*, which covers emoji and skin-tone modifiers), separators (Z*) and controls/format
# characters (C*, which covers ZWJ and the emoji tag characters): variation selectors and
# enclosing marks such as the keycap U+20E3.
_EXTRA_TRIM_RANGES: Final[tuple[tuple[int, int], ...]] = (
    (0xFE00, 0xFE0F),  # variation selectors, U+FE0F is the emoji presentation selector
    (0xE0100, 0xE01EF),  # variation selectors supplement
)


def _is_trimmable(char: str) -> bool:
    if char.isspace():
        return True
    category = unicodedata.category(char)
    if category[0] in "PSZC" or category == "Me":
        return True
    code = ord(char)
    return any(low <= code <= high for low, high in _EXTRA_TRIM_RANGES)


def normalize(text: str) -> str:
    """Return ``text`` in the form greetings and stop words are compared in.

    NFKC normalisation (which also turns Arabic presentation forms and full-width letters into
    the ordinary letters), case folding, then removal of whitespace, punctuation, symbols and
    emoji (with their modifiers, variation selectors and joiners) at both ends; inner runs of
    whitespace become one space. Inner punctuation is kept, so "hi, there" stays two words.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    start, end = 0, len(folded)
    while start < end and _is_trimmable(folded[start]):
        start += 1
    while end > start and _is_trimmable(folded[end - 1]):
        end -= 1
    return " ".join(folded[start:end].split())


@dataclass(frozen=True)
class Match:
    """A recognised greeting or stop word; ``language`` is the language to answer in."""

    language: str


def _language_index(entries: Sequence[tuple[str, str]]) -> dict[str, str]:
    index: dict[str, str] = {}
    for word, language in entries:
        index.setdefault(normalize(word), language)
    return index


_GREETING_LANGUAGE_BY_KEY: Final = _language_index(
    _DEFAULT_GREETING_LANGUAGES + _VARIANT_GREETING_LANGUAGES
)
_STOP_LANGUAGE_BY_KEY: Final = _language_index(_STOP_WORD_LANGUAGES)


def _configured_index(
    words: Sequence[str], known: Mapping[str, str], what: str
) -> dict[str, Match]:
    index: dict[str, Match] = {}
    for word in words:
        key = normalize(word)
        if not key:
            raise ValueError(
                f"{what} {word!r} is empty once spaces, punctuation and emoji are removed"
            )
        index.setdefault(key, Match(known.get(key, FALLBACK_LANGUAGE)))
    return index


class GreetingMatcher:
    """Matches whole messages against the configured greetings and stop words.

    A configured word not in the built-in language tables is answered in English. A configured
    word that normalises to nothing (only emoji or punctuation) is refused with ``ValueError``,
    since it would match every empty or emoji-only message.
    """

    def __init__(self, greetings: Sequence[str], stop_words: Sequence[str] | None = None) -> None:
        if isinstance(greetings, str) or isinstance(stop_words, str):
            raise TypeError("greetings and stop_words must be sequences of words, not a str")
        self._greetings = _configured_index(greetings, _GREETING_LANGUAGE_BY_KEY, "greeting")
        self._stop_words = _configured_index(
            DEFAULT_STOP_WORDS if stop_words is None else stop_words,
            _STOP_LANGUAGE_BY_KEY,
            "stop word",
        )

    def greeting(self, text: str) -> Match | None:
        """The match if the whole message is a configured greeting, else None."""
        return self._greetings.get(normalize(text))

    def stop(self, text: str) -> Match | None:
        """The match if the whole message is a stop word, else None."""
        return self._stop_words.get(normalize(text))


_REPLIES: Final[Mapping[str, Mapping[ReplyKind, str]]] = {
    "en": {
        "registered": (
            "You are registered. You will now receive messages from this gateway. "
            "Send STOP to unsubscribe."
        ),
        "already_registered": "You are already registered. Send STOP to unsubscribe.",
        "share_contact": (
            "Almost done: we cannot see your phone number. Please share your contact card "
            "(📎 → Contact → yourself) or add this number to your contacts and say Hi again."
        ),
        "contact_refused": (
            "That contact card is not yours. Please share your own contact card to register."
        ),
        "full": "Sorry, this gateway cannot take new registrations right now.",
        "stopped": (
            "You have unsubscribed and will receive no more messages. Say Hi to register again."
        ),
        "hint": "This gateway only answers registered users. Say Hi to register.",
    },
    "zh": {
        "registered": "您已成功注册，今后将收到本网关发送的消息。发送“停止”即可退订。",
        "already_registered": "您已经注册过了。发送“停止”即可退订。",
        "share_contact": (
            "就差一步：我们看不到您的手机号码。请分享您的联系人名片"
            "（📎 → 联系人 → 您自己），或将本号码存入通讯录后再发一次“你好”。"
        ),
        "contact_refused": "这张联系人名片不是您本人的。请分享您自己的联系人名片以完成注册。",
        "full": "抱歉，本网关目前无法接受新的注册。",
        "stopped": "您已退订，今后不会再收到任何消息。发送“你好”即可重新注册。",
        "hint": "本网关只回复已注册的用户。发送“你好”即可注册。",
    },
    "ja": {
        "registered": (
            "登録が完了しました。今後、このゲートウェイからメッセージが届きます。"
            "配信を停止するには「ストップ」と送信してください。"
        ),
        "already_registered": (
            "すでに登録されています。配信を停止するには「ストップ」と送信してください。"
        ),
        "share_contact": (
            "あと少しです。こちらからはあなたの電話番号が見えません。"
            "連絡先カードを共有する（📎 → 連絡先 → ご自身）か、"
            "この番号を連絡先に追加してから、もう一度「こんにちは」と送ってください。"
        ),
        "contact_refused": (
            "この連絡先カードはご本人のものではありません。"
            "登録するには、ご自身の連絡先カードを共有してください。"
        ),
        "full": "申し訳ありませんが、このゲートウェイは現在、新規登録を受け付けていません。",
        "stopped": (
            "配信を停止しました。今後メッセージは届きません。"
            "再度登録するには「こんにちは」と送ってください。"
        ),
        "hint": (
            "このゲートウェイは登録済みのユーザーにのみ応答します。"
            "登録するには「こんにちは」と送ってください。"
        ),
    },
    "nl": {
        "registered": (
            "Je bent geregistreerd. Je ontvangt vanaf nu berichten van deze gateway. "
            "Stuur STOPPEN om je af te melden."
        ),
        "already_registered": "Je bent al geregistreerd. Stuur STOPPEN om je af te melden.",
        "share_contact": (
            "Bijna klaar: we kunnen je telefoonnummer niet zien. Deel je contactkaart "
            "(📎 → Contact → jezelf) of zet dit nummer in je contacten en zeg nog een keer Hoi."
        ),
        "contact_refused": (
            "Die contactkaart is niet van jou. Deel je eigen contactkaart om je te registreren."
        ),
        "full": "Sorry, deze gateway kan op dit moment geen nieuwe registraties aannemen.",
        "stopped": (
            "Je bent afgemeld en ontvangt geen berichten meer. "
            "Zeg Hoi om je opnieuw te registreren."
        ),
        "hint": (
            "Deze gateway beantwoordt alleen geregistreerde gebruikers. "
            "Zeg Hoi om je te registreren."
        ),
    },
    "it": {
        "registered": (
            "Registrazione completata. D'ora in poi riceverai i messaggi di questo gateway. "
            "Invia BASTA per annullare l'iscrizione."
        ),
        "already_registered": (
            "La tua registrazione è già attiva. Invia BASTA per annullare l'iscrizione."
        ),
        "share_contact": (
            "Ci siamo quasi: non riusciamo a vedere il tuo numero di telefono. "
            "Condividi il tuo contatto (📎 → Contatto → il tuo contatto) oppure aggiungi "
            "questo numero ai tuoi contatti e scrivi di nuovo Ciao."
        ),
        "contact_refused": (
            "Questo contatto non è il tuo. Per registrarti, condividi il tuo contatto."
        ),
        "full": "Spiacenti, al momento questo gateway non può accettare nuove registrazioni.",
        "stopped": (
            "Hai annullato l'iscrizione e non riceverai più messaggi. "
            "Scrivi Ciao per registrarti di nuovo."
        ),
        "hint": "Questo gateway risponde solo agli utenti registrati. Scrivi Ciao per registrarti.",
    },
    "id": {
        "registered": (
            "Anda sudah terdaftar. Mulai sekarang Anda akan menerima pesan dari gateway ini. "
            "Kirim BERHENTI untuk berhenti berlangganan."
        ),
        "already_registered": (
            "Anda sudah terdaftar sebelumnya. Kirim BERHENTI untuk berhenti berlangganan."
        ),
        "share_contact": (
            "Hampir selesai: kami tidak dapat melihat nomor telepon Anda. Silakan bagikan "
            "kartu kontak Anda (📎 → Kontak → diri Anda sendiri) atau simpan nomor ini di "
            "kontak Anda, lalu kirim Hai lagi."
        ),
        "contact_refused": (
            "Kartu kontak itu bukan milik Anda. "
            "Silakan bagikan kartu kontak Anda sendiri untuk mendaftar."
        ),
        "full": "Maaf, gateway ini belum dapat menerima pendaftaran baru saat ini.",
        "stopped": (
            "Anda telah berhenti berlangganan dan tidak akan menerima pesan lagi. "
            "Kirim Hai untuk mendaftar kembali."
        ),
        "hint": "Gateway ini hanya melayani pengguna terdaftar. Kirim Hai untuk mendaftar.",
    },
    "de": {
        "registered": (
            "Du bist registriert. Ab jetzt erhältst du Nachrichten von diesem Gateway. "
            "Sende STOPP, um dich abzumelden."
        ),
        "already_registered": "Du bist bereits registriert. Sende STOPP, um dich abzumelden.",
        "share_contact": (
            "Fast geschafft: Wir können deine Telefonnummer nicht sehen. Bitte teile deine "
            "Kontaktkarte (📎 → Kontakt → du selbst) oder speichere diese Nummer in deinen "
            "Kontakten und sag noch einmal Hallo."
        ),
        "contact_refused": (
            "Diese Kontaktkarte gehört nicht dir. "
            "Bitte teile deine eigene Kontaktkarte, um dich zu registrieren."
        ),
        "full": "Leider kann dieses Gateway derzeit keine neuen Registrierungen annehmen.",
        "stopped": (
            "Du hast dich abgemeldet und erhältst keine Nachrichten mehr. "
            "Sag Hallo, um dich erneut zu registrieren."
        ),
        "hint": (
            "Dieses Gateway antwortet nur registrierten Nutzern. "
            "Sag Hallo, um dich zu registrieren."
        ),
    },
    "es": {
        "registered": (
            "Te has registrado. A partir de ahora recibirás mensajes de este gateway. "
            "Envía ALTO para darte de baja."
        ),
        "already_registered": "Ya te habías registrado. Envía ALTO para darte de baja.",
        "share_contact": (
            "Ya casi está: no podemos ver tu número de teléfono. Comparte tu tarjeta de "
            "contacto (📎 → Contacto → tu propio contacto) o agrega este número a tus "
            "contactos y vuelve a decir Hola."
        ),
        "contact_refused": (
            "Esa tarjeta de contacto no es tuya. "
            "Comparte tu propia tarjeta de contacto para registrarte."
        ),
        "full": "Lo sentimos, este gateway no puede aceptar nuevos registros en este momento.",
        "stopped": (
            "Te has dado de baja y no recibirás más mensajes. Di Hola para registrarte de nuevo."
        ),
        "hint": "Este gateway solo responde a usuarios registrados. Di Hola para registrarte.",
    },
    "pt": {
        "registered": (
            "Seu cadastro foi concluído. A partir de agora você receberá mensagens deste "
            "gateway. Envie PARAR para cancelar a inscrição."
        ),
        "already_registered": (
            "Seu cadastro já está ativo. Envie PARAR para cancelar a inscrição."
        ),
        "share_contact": (
            "Quase lá: não conseguimos ver seu número de telefone. Compartilhe seu cartão de "
            "contato (📎 → Contato → seu próprio contato) ou adicione este número aos seus "
            "contatos e diga Oi novamente."
        ),
        "contact_refused": (
            "Esse cartão de contato não é seu. "
            "Compartilhe o seu próprio cartão de contato para se cadastrar."
        ),
        "full": "Desculpe, este gateway não pode aceitar novos cadastros no momento.",
        "stopped": (
            "Sua inscrição foi cancelada e você não receberá mais mensagens. "
            "Diga Oi para se cadastrar novamente."
        ),
        "hint": "Este gateway só responde a usuários cadastrados. Diga Oi para se cadastrar.",
    },
    "fr": {
        "registered": (
            "Votre inscription est confirmée. Vous recevrez désormais les messages de cette "
            "passerelle. Envoyez ARRÊT pour vous désinscrire."
        ),
        "already_registered": (
            "Votre inscription est déjà active. Envoyez ARRÊT pour vous désinscrire."
        ),
        "share_contact": (
            "Presque terminé : nous ne voyons pas votre numéro de téléphone. Partagez votre "
            "fiche de contact (📎 → Contact → vous-même) ou ajoutez ce numéro à vos contacts "
            "et dites à nouveau Salut."
        ),
        "contact_refused": (
            "Cette fiche de contact n'est pas la vôtre. "
            "Partagez votre propre fiche de contact pour vous inscrire."
        ),
        "full": (
            "Désolé, cette passerelle ne peut pas accepter de nouvelles inscriptions "
            "pour le moment."
        ),
        "stopped": (
            "Votre désinscription est confirmée : vous ne recevrez plus de messages. "
            "Dites Salut pour vous réinscrire."
        ),
        "hint": (
            "Cette passerelle ne répond qu'aux utilisateurs inscrits. "
            "Dites Salut pour vous inscrire."
        ),
    },
    "ru": {
        "registered": (
            "Вы зарегистрированы. Теперь вы будете получать сообщения от этого шлюза. "
            "Чтобы отписаться, отправьте СТОП."
        ),
        "already_registered": "Вы уже зарегистрированы. Чтобы отписаться, отправьте СТОП.",
        "share_contact": (
            "Почти готово: мы не видим ваш номер телефона. Поделитесь своим контактом "
            "(📎 → Контакт → свой контакт) или добавьте этот номер в контакты и снова "
            "напишите «Здравствуй»."
        ),
        "contact_refused": (
            "Это не ваш контакт. Чтобы зарегистрироваться, поделитесь своим собственным контактом."
        ),
        "full": "Извините, сейчас этот шлюз не может принимать новые регистрации.",
        "stopped": (
            "Вы отписались и больше не будете получать сообщения. "
            "Чтобы зарегистрироваться снова, напишите «Здравствуй»."
        ),
        "hint": (
            "Этот шлюз отвечает только зарегистрированным пользователям. "
            "Чтобы зарегистрироваться, напишите «Здравствуй»."
        ),
    },
    "uk": {
        "registered": (
            "Вас зареєстровано. Відтепер ви отримуватимете повідомлення від цього шлюзу. "
            "Щоб відписатися, надішліть ЗУПИНИТИ."
        ),
        "already_registered": "Ви вже зареєстровані. Щоб відписатися, надішліть ЗУПИНИТИ.",
        "share_contact": (
            "Майже готово: ми не бачимо вашого номера телефону. Поділіться своїм контактом "
            "(📎 → Контакт → свій контакт) або додайте цей номер до контактів і знову "
            "напишіть «Привіт»."
        ),
        "contact_refused": (
            "Це не ваш контакт. Щоб зареєструватися, поділіться своїм власним контактом."
        ),
        "full": "Вибачте, зараз цей шлюз не може приймати нові реєстрації.",
        "stopped": (
            "Ви відписалися й більше не отримуватимете повідомлень. "
            "Щоб зареєструватися знову, напишіть «Привіт»."
        ),
        "hint": (
            "Цей шлюз відповідає лише зареєстрованим користувачам. "
            "Щоб зареєструватися, напишіть «Привіт»."
        ),
    },
    "hi": {
        "registered": (
            "आपका पंजीकरण हो गया है। अब आपको इस गेटवे से संदेश मिलेंगे। सदस्यता समाप्त करने के लिए “रोकें” भेजें।"
        ),
        "already_registered": "आप पहले से पंजीकृत हैं। सदस्यता समाप्त करने के लिए “रोकें” भेजें।",
        "share_contact": (
            "बस एक कदम बाकी है: हमें आपका फ़ोन नंबर नहीं दिख रहा है। "
            "कृपया अपना संपर्क कार्ड साझा करें (📎 → संपर्क → आप स्वयं) या इस नंबर को "
            "अपने संपर्कों में जोड़कर फिर से “नमस्ते” कहें।"
        ),
        "contact_refused": "यह संपर्क कार्ड आपका नहीं है। पंजीकरण के लिए कृपया अपना संपर्क कार्ड साझा करें।",
        "full": "क्षमा करें, यह गेटवे अभी नए पंजीकरण स्वीकार नहीं कर सकता।",
        "stopped": (
            "आपकी सदस्यता समाप्त हो गई है और अब आपको कोई संदेश नहीं मिलेगा। फिर से पंजीकरण के लिए “नमस्ते” कहें।"
        ),
        "hint": "यह गेटवे केवल पंजीकृत उपयोगकर्ताओं को जवाब देता है। पंजीकरण के लिए “नमस्ते” कहें।",
    },
    "he": {
        "registered": (
            "ההרשמה הושלמה. מעתה יישלחו אליך הודעות מהשירות הזה. לביטול ההרשמה יש לשלוח עצור."
        ),
        "already_registered": "ההרשמה שלך כבר פעילה. לביטול ההרשמה יש לשלוח עצור.",
        "share_contact": (
            "כמעט סיימנו: איננו רואים את מספר הטלפון שלך. יש לשתף את כרטיס איש הקשר שלך "
            "(📎 ← איש קשר ← הכרטיס שלך) או לשמור את המספר הזה באנשי הקשר ולכתוב שוב היי."
        ),
        "contact_refused": (
            "כרטיס איש הקשר הזה אינו שלך. כדי להירשם יש לשתף את כרטיס איש הקשר שלך."
        ),
        "full": "מצטערים, השירות הזה אינו יכול לקבל הרשמות חדשות כרגע.",
        "stopped": "ההרשמה בוטלה ולא יישלחו אליך הודעות נוספות. כדי להירשם מחדש יש לכתוב היי.",
        "hint": "השירות הזה עונה רק למשתמשים רשומים. כדי להירשם יש לכתוב היי.",
    },
    "ar": {
        "registered": (
            "تم تسجيلك بنجاح. ستصلك من الآن رسائل هذه البوابة. أرسل «توقف» لإلغاء الاشتراك."
        ),
        "already_registered": "أنت مسجل بالفعل. أرسل «توقف» لإلغاء الاشتراك.",
        "share_contact": (
            "اقتربنا من الانتهاء: لا يمكننا رؤية رقم هاتفك. يرجى مشاركة بطاقة جهة الاتصال "
            "الخاصة بك (📎 ← جهة اتصال ← بطاقتك) أو إضافة هذا الرقم إلى جهات اتصالك "
            "ثم إرسال «مرحبا» مرة أخرى."
        ),
        "contact_refused": (
            "بطاقة جهة الاتصال هذه ليست لك. يرجى مشاركة بطاقة جهة الاتصال الخاصة بك للتسجيل."
        ),
        "full": "عذرًا، لا تستطيع هذه البوابة قبول تسجيلات جديدة حاليًا.",
        "stopped": "تم إلغاء اشتراكك ولن تصلك أي رسائل أخرى. أرسل «مرحبا» للتسجيل مجددًا.",
        "hint": "هذه البوابة ترد على المستخدمين المسجلين فقط. أرسل «مرحبا» للتسجيل.",
    },
}


def _language_candidates(language: str) -> list[str]:
    """``language`` itself, then its primary subtag ("pt-BR" -> "pt"), then English."""
    primary = language.replace("_", "-").split("-", 1)[0].lower()
    return list(dict.fromkeys((language, primary, FALLBACK_LANGUAGE)))


def reply_text(
    kind: ReplyKind,
    language: str,
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> str:
    """The gateway's reply of ``kind`` in ``language``.

    For ``language`` (then its primary subtag, then English) ``overrides[language][kind]`` is
    used when present, else the built-in text; unknown languages get the English text.
    """
    if kind not in REPLY_KINDS:
        raise ValueError(f"unknown reply kind {kind!r}; expected one of {REPLY_KINDS}")
    for candidate in _language_candidates(language):
        override = (overrides or {}).get(candidate, {}).get(kind)
        if override is not None:
            return override
        builtin = _REPLIES.get(candidate, {}).get(kind)
        if builtin is not None:
            return builtin
    return _REPLIES[FALLBACK_LANGUAGE][kind]
