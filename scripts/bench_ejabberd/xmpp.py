"""A minimal XMPP client on trio sockets: what the side-by-side benchmark needs, nothing more.

Stream open, in-band registration (XEP-0077), SASL PLAIN, resource binding,
the session request where a server still demands it, carbons (XEP-0280),
presence, messages and joining a multi-user chat room (XEP-0045), over
plain TCP on loopback. Incoming bytes go through one expat pull parser per
stream (the C `xml.etree` one); each complete top-level stanza comes out as
an `Element`, detached from the stream root so a long stream holds nothing.

Set-up steps (`login`, `join_room`, ...) read the stream themselves and
must finish before `stanzas()` is iterated by a reader task; after that only
sends happen from other tasks. Every wait is bounded by the caller's
`trio.fail_after` (the benchmark's request timeout); a server error or an
unexpected stanza raises `XmppError` with the stanza's text.
"""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Callable
from xml.etree.ElementTree import Element, XMLPullParser, tostring
from xml.sax.saxutils import escape, quoteattr

import trio

CLIENT_NS = "jabber:client"
STREAM_NS = "http://etherx.jabber.org/streams"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"
REGISTER_NS = "jabber:iq:register"
CARBONS_NS = "urn:xmpp:carbons:2"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_USER_NS = "http://jabber.org/protocol/muc#user"
MUC_OWNER_NS = "http://jabber.org/protocol/muc#owner"
DATA_NS = "jabber:x:data"

BODY = f"{{{CLIENT_NS}}}body"
MESSAGE = f"{{{CLIENT_NS}}}message"
PRESENCE = f"{{{CLIENT_NS}}}presence"
IQ = f"{{{CLIENT_NS}}}iq"

_RECEIVE_BYTES = 65536
_ids = itertools.count(1)


class XmppError(Exception):
    """The server refused a step, closed the stream, or answered something unexpected."""


def _text(element: Element) -> str:
    return tostring(element, encoding="unicode")[:300]


def body_of(stanza: Element) -> str | None:
    """The first <body> in `stanza`, a forwarded carbon's included; None if it has none."""
    for body in stanza.iter(BODY):
        return body.text or ""
    return None


class XmppClient:
    """One client-to-server XMPP stream over TCP.

    Not safe for two set-up steps at once; `send` may be called from any
    task (sends are serialised by a lock).
    """

    def __init__(self, host: str, port: int, domain: str) -> None:
        self.host, self.port, self.domain = host, port, domain
        self.jid = ""  # the full JID once bound
        self._stream: trio.SocketStream | None = None
        self._send_lock = trio.StrictFIFOLock()
        self._parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
        self._depth = 0
        self._root: Element | None = None
        self._ready: list[Element] = []
        self._features: Element | None = None
        self._closed = False  # the server ended the stream
        self._closing = False  # close() was called

    # ---- the byte stream ------------------------------------------------------------

    async def connect(self) -> None:
        """Open the TCP connection and the first stream; raises OSError or XmppError."""
        self._stream = await trio.open_tcp_stream(self.host, self.port)
        await self._open_stream()

    async def send(self, data: str) -> None:
        """Write `data` (serialised XML) to the stream; raises trio.BrokenResourceError once closed."""
        assert self._stream is not None
        async with self._send_lock:
            await self._stream.send_all(data.encode())

    async def _open_stream(self) -> None:
        self._parser = XMLPullParser(events=("start", "end"))
        self._depth, self._root = 0, None
        await self.send(
            f"<?xml version='1.0'?><stream:stream to={quoteattr(self.domain)} xmlns='{CLIENT_NS}' "
            f"xmlns:stream='{STREAM_NS}' version='1.0'>"
        )
        features = await self.next_stanza()
        if features.tag != f"{{{STREAM_NS}}}features":
            raise XmppError(f"expected stream features, got {_text(features)}")
        self._features = features

    async def next_stanza(self) -> Element:
        """The next complete top-level element of the stream; raises XmppError at its end."""
        while not self._ready:
            assert self._stream is not None
            data = await self._stream.receive_some(_RECEIVE_BYTES)
            if not data:
                self._closed = True
                raise XmppError("the server closed the stream")
            self._feed(data)
        stanza = self._ready.pop(0)
        if stanza.tag == f"{{{STREAM_NS}}}error":
            raise XmppError(f"stream error: {_text(stanza)}")
        return stanza

    def _feed(self, data: bytes) -> None:
        self._parser.feed(data)
        for queued in self._parser.read_events():
            event, element = queued[0], queued[-1]
            if not isinstance(element, Element):
                continue  # only start and end are asked for: never a namespace event
            if event == "start":
                self._depth += 1
                if self._depth == 1:
                    self._root = element
            else:
                self._depth -= 1
                if self._depth == 1 and self._root is not None:
                    self._root.remove(element)  # the stream root keeps no finished stanza
                    self._ready.append(element)
                elif self._depth == 0:
                    self._closed = True

    async def stanzas(self) -> AsyncIterator[Element]:
        """Every stanza until the stream ends (then it stops without raising)."""
        while True:
            try:
                yield await self.next_stanza()
            except (XmppError, trio.BrokenResourceError, trio.ClosedResourceError):
                return

    async def _wait_for(self, wanted: Callable[[Element], bool]) -> Element:
        """Read stanzas until `wanted` holds for one, dropping the others (presence, subjects)."""
        while True:
            stanza = await self.next_stanza()
            if wanted(stanza):
                return stanza

    async def _iq(self, kind: str, payload: str, to: str | None = None) -> Element:
        """Send an IQ and wait for its result; raises XmppError on an error answer."""
        iq_id = f"q{next(_ids)}"
        address = f" to={quoteattr(to)}" if to else ""
        await self.send(f"<iq type='{kind}' id='{iq_id}'{address}>{payload}</iq>")
        answer = await self._wait_for(lambda s: s.tag == IQ and s.get("id") == iq_id)
        if answer.get("type") != "result":
            raise XmppError(f"iq refused: {_text(answer)}")
        return answer

    async def close(self) -> None:
        """End the stream and close the socket; never raises."""
        stream = self._stream
        if stream is None or self._closing:
            return
        self._closing = True
        with trio.move_on_after(2, shield=True):
            try:
                if not self._closed:
                    async with self._send_lock:
                        await stream.send_all(b"</stream:stream>")
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass  # the peer is gone already: closing is all that is left
            await stream.aclose()  # a reader blocked in receive_some gets ClosedResourceError

    # ---- set-up steps ---------------------------------------------------------------

    async def register(self, user: str, password: str) -> bool:
        """In-band registration (XEP-0077) on a fresh stream; False if the account exists."""
        iq_id = f"r{next(_ids)}"
        await self.send(
            f"<iq type='set' id='{iq_id}'><query xmlns='{REGISTER_NS}'>"
            f"<username>{escape(user)}</username><password>{escape(password)}</password></query></iq>"
        )
        answer = await self._wait_for(lambda s: s.tag == IQ and s.get("id") == iq_id)
        if answer.get("type") == "result":
            return True
        if answer.find(".//{urn:ietf:params:xml:ns:xmpp-stanzas}conflict") is not None:
            return False
        raise XmppError(f"registration of {user} refused: {_text(answer)}")

    async def login(self, user: str, password: str, resource: str) -> None:
        """SASL PLAIN, stream restart, bind `resource` (and the legacy session when required)."""
        secret = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        await self.send(f"<auth xmlns='{SASL_NS}' mechanism='PLAIN'>{secret}</auth>")
        answer = await self.next_stanza()
        if answer.tag != f"{{{SASL_NS}}}success":
            raise XmppError(f"authentication of {user} failed: {_text(answer)}")
        await self._open_stream()
        bound = await self._iq("set", f"<bind xmlns='{BIND_NS}'><resource>{escape(resource)}</resource></bind>")
        jid = bound.find(f"{{{BIND_NS}}}bind/{{{BIND_NS}}}jid")
        if jid is None or not jid.text:
            raise XmppError(f"bind answered without a JID: {_text(bound)}")
        self.jid = jid.text
        assert self._features is not None
        session = self._features.find(f"{{{SESSION_NS}}}session")
        if session is not None and session.find(f"{{{SESSION_NS}}}optional") is None:
            await self._iq("set", f"<session xmlns='{SESSION_NS}'/>")

    async def enable_carbons(self) -> None:
        """Ask for copies of this account's messages sent or received by its other devices."""
        await self._iq("set", f"<enable xmlns='{CARBONS_NS}'/>")

    async def available(self) -> None:
        """Send initial presence and wait until the server reflects it back to this resource."""
        await self.send("<presence/>")
        await self._wait_for(lambda s: s.tag == PRESENCE and s.get("from") == self.jid)

    async def join_room(self, room: str, nick: str) -> bool:
        """Enter `room` as `nick` without history; True if this join created the room.

        A created room is unlocked at once with the server's default
        configuration (an "instant room", XEP-0045 §10.1.2).
        """
        occupant = f"{room}/{nick}"
        await self.send(f"<presence to={quoteattr(occupant)}><x xmlns='{MUC_NS}'><history maxstanzas='0'/></x></presence>")

        def mine(stanza: Element) -> bool:
            if stanza.tag != PRESENCE or stanza.get("from") != occupant:
                return False
            if stanza.get("type") == "error":
                raise XmppError(f"joining {room} refused: {_text(stanza)}")
            return True

        presence = await self._wait_for(mine)
        codes = {status.get("code") for status in presence.iter(f"{{{MUC_USER_NS}}}status")}
        if "201" not in codes:
            return False
        await self._iq("set", f"<query xmlns='{MUC_OWNER_NS}'><x xmlns='{DATA_NS}' type='submit'/></query>", to=room)
        return True

    async def message(self, to: str, body: str, kind: str = "chat") -> None:
        """Send one message stanza of type `kind` (chat, groupchat) with `body`."""
        await self.send(f"<message to={quoteattr(to)} type='{kind}'><body>{escape(body)}</body></message>")
