"""DNS messages (RFC 1035, RFC 3596) over UDP and TCP.

A message is read from a buffer slice: its header (id, flags, counts), its first
question (name, type, class; later questions are walked over), and the answer
section's A, AAAA and CNAME records (other types are skipped by their length).
The authority and additional sections are counted, not read. One row per message
goes into a preallocated ``int64[M, N_FIELDS]`` table and one row per kept answer
into ``int64[A, N_ANSWER_FIELDS]``, with each answer's address bytes in
``uint8[A, 16]``. Names are written as dotted text, bytes as received (no case
folding, no escaping), into a preallocated ``uint8`` buffer.

Over TCP each message has a two-byte length prefix (RFC 1035 §4.2.2);
:func:`split_tcp` cuts stream prefixes into messages first.

Name compression is followed with bounds that hold whatever the bytes: a pointer
must point before where the name started, and every further pointer before the
previous pointer's target, so targets strictly decrease and no loop is possible;
there are also at most ``MAX_HOPS`` pointers and 255 octets per name (RFC 1035
§3.1). Every read is checked against the end of the message first.
"""

import numpy as np

from ..._jit import inline_jit, ngjit
from ..bytes import be16, be32, byte

# -- message statuses ----------------------------------------------------------------
OK = 0
TRUNCATED_HEADER = 1
TRUNCATED = 2
BAD_POINTER = 3
BAD_LABEL = 4
NAME_TOO_LONG = 5
MESSAGE_CUT = 6

STATUS_NAMES = {
    OK: "ok",
    TRUNCATED_HEADER: "truncated_header",
    TRUNCATED: "truncated",
    BAD_POINTER: "bad_pointer",
    BAD_LABEL: "bad_label",
    NAME_TOO_LONG: "name_too_long",
    MESSAGE_CUT: "message_cut",
}
"""Status names; what each means:

* ``ok``: header, questions and answer section read;
* ``truncated_header``: fewer than 12 bytes: nothing read;
* ``truncated``: the bytes end inside a question or an answer record (what came
  before is kept);
* ``bad_pointer``: a compression pointer that points forward, at itself, past the
  end, in a loop, or more than ``MAX_HOPS`` times;
* ``bad_label``: a label type other than length and pointer (0x40, 0x80);
* ``name_too_long``: a name of more than 255 octets;
* ``message_cut``: the sections read were whole, but the message is longer than
  the bytes at hand (an IP fragment, a snap length, a stream prefix's end).
"""

MAX_HOPS = 128
"""Compression pointers followed per name: more than a 255-octet name needs."""

MAX_NAME = 255
"""Octets of a name on the wire, length bytes and root included (RFC 1035 §3.1)."""

MIN_RECORD = 11
"""Bytes of the shortest resource record (root owner, 10 fixed bytes, no data): a
message of ``n`` bytes holds at most ``n // MIN_RECORD`` answers."""

TYPE_A = 1
TYPE_CNAME = 5
TYPE_AAAA = 28

# -- columns of the message table -------------------------------------------------------
F_SOURCE = 0  # payload or stream the message came from
F_START = 1  # buffer offset of the message's first byte (after a TCP length prefix)
F_DECLARED = 2  # length the message claims (UDP length - 8, TCP length prefix); -1 unknown
F_AVAILABLE = 3  # bytes of it at hand
F_STATUS = 4
F_ID = 5
F_FLAGS = 6
F_QDCOUNT = 7
F_ANCOUNT = 8
F_NSCOUNT = 9
F_ARCOUNT = 10
F_QNAME_OFF = 11  # into the text buffer
F_QNAME_LEN = 12  # -1: no question read
F_QTYPE = 13
F_QCLASS = 14
F_ANSWER_FIRST = 15  # first row of its answers in the answer table
F_ANSWER_COUNT = 16  # A, AAAA and CNAME answers kept
N_FIELDS = 17

# -- columns of the answer table -------------------------------------------------------
A_MESSAGE = 0
A_TYPE = 1
A_CLASS = 2
A_TTL = 3
A_TEXT_OFF = 4  # CNAME target in the text buffer
A_TEXT_LEN = 5  # -1 for addresses
A_ADDRESS_LEN = 6  # 4 or 16 bytes at the start of the answer's address row; 0 for CNAME
N_ANSWER_FIELDS = 7

C_TEXT_NEEDED = 0  # counters: text bytes the names took (written only where they fit)
C_ANSWERS_NEEDED = 1  # answer rows needed
C_MESSAGES_DROPPED = 2  # split_tcp: messages not written, the table being full
N_COUNTERS = 3


@inline_jit
def _put(text, at, value):
    """Write one text byte where it fits; the caller counts what was needed."""
    if at < len(text):
        text[at] = value


@ngjit
def read_name(buf, base, avail, pos, text, t_pos, write):
    r"""The name at message offset ``pos``: ``(status, end, length)``.

    ``end`` is the message offset right after the name where it is written (after
    its first pointer, or its root label); ``length`` the bytes of its dotted text,
    written at ``text[t_pos:]`` when ``write`` (as far as the buffer goes). The
    root name is empty text.

    Examples
    --------
    "a.b" at 0, then "c" and a pointer to it at 5:

    >>> import numpy as np
    >>> from kernelkit.kernels.l7.dns import read_name, STATUS_NAMES
    >>> msg = np.frombuffer(b"\x01a\x01b\x00\x01c\xc0\x00", np.uint8)
    >>> text = np.zeros(16, np.uint8)
    >>> status, end, n = read_name(msg, 0, len(msg), 5, text, 0, True)
    >>> STATUS_NAMES[status], int(end), text[:n].tobytes()
    ('ok', 9, b'c.a.b')
    >>> loop = np.frombuffer(b"\xc0\x00", np.uint8)  # a pointer to itself
    >>> STATUS_NAMES[read_name(loop, 0, len(loop), 0, text, 0, False)[0]]
    'bad_pointer'
    """
    cur = pos
    bound = pos  # the next pointer must point before this
    jumped = False
    end = np.int64(-1)
    wire = 0
    n = 0
    hops = 0
    while True:
        if cur >= avail:
            return TRUNCATED, end, n
        c = byte(buf, base + cur)
        kind = c & 0xC0
        if kind == 0xC0:
            if cur + 1 >= avail:
                return TRUNCATED, end, n
            target = ((c & 0x3F) << 8) | byte(buf, base + cur + 1)
            if not jumped:
                end = cur + 2
            hops += 1
            if target >= bound or hops > MAX_HOPS:
                return BAD_POINTER, end, n
            jumped = True
            bound = target
            cur = target
        elif kind != 0:
            return BAD_LABEL, end, n
        elif c == 0:
            if not jumped:
                end = cur + 1
            return OK, end, n
        else:
            wire += c + 1
            if wire + 1 > MAX_NAME:
                return NAME_TOO_LONG, end, n
            if cur + 1 + c > avail:
                return TRUNCATED, end, n
            if n > 0:
                if write:
                    _put(text, t_pos + n, 46)  # '.'
                n += 1
            if write:
                for k in range(c):
                    _put(text, t_pos + n + k, byte(buf, base + cur + 1 + k))
            n += c
            cur += 1 + c


@ngjit
def parse_message(buf, base, avail, declared, fields, m, answers, addresses, a_next, text, t_next):
    """Read the message at ``buf[base : base + avail]`` into row ``m``: ``(status, a_next, t_next)``.

    ``a_next`` and ``t_next`` are the next free answer row and text byte; they
    count what was needed even past the end of ``answers`` and ``text``, where
    nothing is written. :func:`parse_messages` runs it over many messages.
    """
    for f in range(N_FIELDS):
        fields[m, f] = -1
    fields[m, F_START] = base
    fields[m, F_DECLARED] = declared
    fields[m, F_AVAILABLE] = avail
    fields[m, F_ANSWER_FIRST] = a_next
    fields[m, F_ANSWER_COUNT] = 0
    if avail < 12:
        return TRUNCATED_HEADER, a_next, t_next
    fields[m, F_ID] = be16(buf, base)
    fields[m, F_FLAGS] = be16(buf, base + 2)
    qdcount = be16(buf, base + 4)
    ancount = be16(buf, base + 6)
    fields[m, F_QDCOUNT] = qdcount
    fields[m, F_ANCOUNT] = ancount
    fields[m, F_NSCOUNT] = be16(buf, base + 8)
    fields[m, F_ARCOUNT] = be16(buf, base + 10)
    cur = np.int64(12)
    for q in range(qdcount):
        status, end, n = read_name(buf, base, avail, cur, text, t_next, q == 0)
        if status != OK:
            return status, a_next, t_next
        if q == 0:
            fields[m, F_QNAME_OFF] = t_next
            fields[m, F_QNAME_LEN] = n
            t_next += n
        if end + 4 > avail:
            return TRUNCATED, a_next, t_next
        if q == 0:
            fields[m, F_QTYPE] = be16(buf, base + end)
            fields[m, F_QCLASS] = be16(buf, base + end + 2)
        cur = end + 4
    a_cap = answers.shape[0]
    for _ in range(ancount):
        status, end, n = read_name(buf, base, avail, cur, text, t_next, False)
        if status != OK:
            return status, a_next, t_next
        if end + 10 > avail:
            return TRUNCATED, a_next, t_next
        rtype = be16(buf, base + end)
        rdlength = be16(buf, base + end + 8)
        rdata = end + 10
        if rdata + rdlength > avail:
            return TRUNCATED, a_next, t_next
        address = (rtype == TYPE_A and rdlength == 4) or (rtype == TYPE_AAAA and rdlength == 16)
        if address or rtype == TYPE_CNAME:
            row = a_next < a_cap
            if row:
                answers[a_next, A_MESSAGE] = m
                answers[a_next, A_TYPE] = rtype
                answers[a_next, A_CLASS] = be16(buf, base + end + 2)
                answers[a_next, A_TTL] = be32(buf, base + end + 4)
                answers[a_next, A_TEXT_OFF] = -1
                answers[a_next, A_TEXT_LEN] = -1
                answers[a_next, A_ADDRESS_LEN] = rdlength if address else 0
            if address:
                if row:
                    for k in range(rdlength):
                        addresses[a_next, k] = byte(buf, base + rdata + k)
            else:
                # the target may point anywhere before it in the message
                status, _, n = read_name(buf, base, avail, rdata, text, t_next, row)
                if status != OK:
                    return status, a_next, t_next
                if row:
                    answers[a_next, A_TEXT_OFF] = t_next
                    answers[a_next, A_TEXT_LEN] = n
                t_next += n
            a_next += 1
            fields[m, F_ANSWER_COUNT] += 1
        cur = rdata + rdlength
    if declared > avail:
        return MESSAGE_CUT, a_next, t_next
    return OK, a_next, t_next


@ngjit
def parse_messages(buf, source, start, avail, declared, fields, answers, addresses, text, counters):
    """Parse message ``i`` at ``buf[start[i] : start[i] + avail[i]]`` into row ``i``.

    Parameters
    ----------
    buf : uint8[:]
        UDP payloads or TCP stream prefixes.
    source, start, avail, declared : int64[M]
        Per message: where it came from (copied to ``F_SOURCE``), its first byte,
        the bytes at hand, and the length it claims (-1: unknown).
    fields : int64[M, N_FIELDS]
        Output, one row per message.
    answers, addresses : int64[A, N_ANSWER_FIELDS], uint8[A, 16]
        Output: A, AAAA and CNAME answers. ``A >= sum(avail // MIN_RECORD)`` always
        suffices.
    text : uint8[T]
        Output: names as dotted text.
    counters : int64[N_COUNTERS]
        Output: ``C_TEXT_NEEDED`` and ``C_ANSWERS_NEEDED``. Where they exceed the
        buffers, some names or answers were not written: call again with larger ones.

    Examples
    --------
    A response for "a.io" with one A record, its owner compressed:

    >>> import numpy as np
    >>> from kernelkit.kernels.l7 import dns as D
    >>> msg = bytes.fromhex("abcd81800001000100000000" "016102696f0000010001"
    ...                     "c00c00010001000000100004c0000201")
    >>> fields, answers = np.empty((1, D.N_FIELDS), np.int64), np.empty((2, D.N_ANSWER_FIELDS), np.int64)
    >>> addresses, text = np.zeros((2, 16), np.uint8), np.zeros(16, np.uint8)
    >>> one = np.array([0])
    >>> size = np.array([len(msg)])
    >>> _ = D.parse_messages(np.frombuffer(msg, np.uint8), one, one, size, size, fields, answers, addresses,
    ...                      text, np.zeros(D.N_COUNTERS, np.int64))
    >>> hex(fields[0, D.F_ID]), text[: fields[0, D.F_QNAME_LEN]].tobytes(), addresses[0, :4].tolist()
    ('0xabcd', b'a.io', [192, 0, 2, 1])
    """
    a_next = np.int64(0)
    t_next = np.int64(0)
    for i in range(len(start)):
        status, a_next, t_next = parse_message(
            buf, start[i], avail[i], declared[i], fields, i, answers, addresses, a_next, text, t_next
        )
        fields[i, F_STATUS] = status
        fields[i, F_SOURCE] = source[i]
    counters[C_TEXT_NEEDED] = t_next
    counters[C_ANSWERS_NEEDED] = a_next
    return np.int64(len(start))


@ngjit
def split_tcp(buf, offsets, filled, streams, source, start, avail, declared, counters):
    r"""Cut TCP stream prefixes into length-prefixed DNS messages.

    Parameters
    ----------
    buf : uint8[:]
        Stream prefixes; stream ``s`` is ``buf[offsets[s] : offsets[s] + filled[s]]``.
    offsets, filled : int64[S]
    streams : int64[K]
        The streams to cut.
    source, start, avail, declared : int64[M]
        Output per message: its stream, the offset of its first byte (two past its
        length prefix), the bytes at hand and the length prefix's value (-1 when
        the prefix itself is cut). ``M >= sum(filled // 2 + 1)`` always suffices.
    counters : int64[N_COUNTERS]
        Output: ``C_MESSAGES_DROPPED``.

    Returns
    -------
    int64
        Messages written.

    Examples
    --------
    >>> import numpy as np
    >>> from kernelkit.kernels.l7 import dns as D
    >>> stream = np.frombuffer(b"\x00\x03abc\x00\x05de", np.uint8)
    >>> source, start, avail, declared = (np.empty(8, np.int64) for _ in range(4))
    >>> n = D.split_tcp(stream, np.array([0]), np.array([len(stream)]), np.array([0]), source, start, avail,
    ...                 declared, np.zeros(D.N_COUNTERS, np.int64))
    >>> start[:n].tolist(), avail[:n].tolist(), declared[:n].tolist()
    ([2, 7], [3, 2], [3, 5])
    """
    n = 0
    cap = len(start)
    for j in range(len(streams)):
        s = streams[j]
        k = offsets[s]
        end = k + filled[s]
        while k < end:
            if n >= cap:
                counters[C_MESSAGES_DROPPED] += 1
                break
            source[n] = s
            if end - k < 2:
                start[n] = k + 2  # where the message would start; nothing of it is at hand
                avail[n] = 0
                declared[n] = -1
                n += 1
                break
            length = be16(buf, k)
            start[n] = k + 2
            avail[n] = min(length, end - k - 2)
            declared[n] = length
            n += 1
            k += 2 + length
    return np.int64(n)


@ngjit
def pair_queries(group, is_response, partner, queue):
    """Pair each response with the earliest unanswered query of its group.

    Parameters
    ----------
    group : int64[n]
        Group of each message (same flow, same id, same query direction), rows
        sorted by group then capture time.
    is_response : uint8[n]
    partner : int64[n]
        Output: the row of the message paired with each row, -1 if none.
    queue : int64[n]
        Scratch.

    Examples
    --------
    One group: a query, its copy, then one response, which answers the first:

    >>> import numpy as np
    >>> from kernelkit.kernels.l7.dns import pair_queries
    >>> partner = np.empty(3, np.int64)
    >>> _ = pair_queries(np.array([0, 0, 0]), np.array([0, 0, 1], np.uint8), partner, np.empty(3, np.int64))
    >>> partner.tolist()
    [2, -1, 0]
    """
    head = 0
    tail = 0
    for i in range(len(group)):
        partner[i] = -1
        if i == 0 or group[i] != group[i - 1]:
            head = 0
            tail = 0
        if is_response[i] == 0:
            queue[tail] = i
            tail += 1
        elif head < tail:
            q = queue[head]
            head += 1
            partner[i] = q
            partner[q] = i
    return np.int64(0)
