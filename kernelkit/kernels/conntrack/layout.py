"""Integer layout of the connection tracker: record fields, codes, design ids.

Flow records live in a fixed pool of ``capacity`` slots, one row of a 2-D array
per record (``ri[r, FIRST_TS]`` is record ``r``'s first timestamp): a packet
touches one record's fields together, so they share cache lines. A hash table
(one of several designs) maps a flow key to its record index.
"""

# --- flow key: five uint64 words per record, ``keys[r]`` ----------------------------
# (address A, address B, ports and protocol) with (A, port A) <= (B, port B), so
# both directions of a connection give the same key.
KEY_A_HI = 0
KEY_A_LO = 1
KEY_B_HI = 2
KEY_B_LO = 3
KEY_PORTS_PROTO = 4  # port A << 32 | port B << 16 | ip_proto << 8 | ip_version
N_KEY = 5

# --- int64 fields of a record (columns of ``ri``); ORIG_x + 1 == RESP_x ---------
FLOW_ID = 0  # index of the flow's first packet in the trace
FIRST_TS = 1
LAST_TS = 2
ORIG_IS_A = 3  # 1 when the originator is side A of the key
ORIG_PKTS = 4
RESP_PKTS = 5
ORIG_IP_BYTES = 6
RESP_IP_BYTES = 7
ORIG_BYTES = 8  # payload, as Zeek counts it
RESP_BYTES = 9
ORIG_WIRE_BYTES = 10  # frame lengths, as tshark's conversation tables count them
RESP_WIRE_BYTES = 11
ORIG_PORT = 12
RESP_PORT = 13
END_REASON = 14  # one of the END_* codes once decided, else 0
CLOSE_TS = 15  # when FIN both ways or a RST closed the flow, else -1; it lingers after
ORIG_STATE = 16  # Zeek's endpoint state of each side (EP_*)
RESP_STATE = 17
HIST_SEEN = 18  # bits of the history letters recorded so far (Zeek's hist_seen)
HISTORY_LEN = 19
SYN_TS = 20  # time of the originator's first SYN, or -1
HANDSHAKE_RTT = 21  # ns from the SYN to the originator's ACK of the SYN-ACK, or -1
ORIG_SIZE_MIN = 22  # IP packet sizes per direction
RESP_SIZE_MIN = 23
ORIG_SIZE_MAX = 24
RESP_SIZE_MAX = 25
ORIG_SIZE_SUMSQ = 26
RESP_SIZE_SUMSQ = 27
ORIG_LAST_TS = 28  # last packet per direction, for inter-arrival times
RESP_LAST_TS = 29
ORIG_IAT_MIN = 30
RESP_IAT_MIN = 31
ORIG_IAT_MAX = 32
RESP_IAT_MAX = 33
ORIG_IAT_SUM = 34
RESP_IAT_SUM = 35
ORIG_IAT_SUMSQ_US = 36  # in µs², so that long gaps do not overflow
RESP_IAT_SUMSQ_US = 37
ORIG_NEXT_SEQ = 38  # highest sequence number + length seen per direction, or -1
RESP_NEXT_SEQ = 39
ORIG_HOLE_LO = 40  # one missing range per direction (a gap not yet filled)
RESP_HOLE_LO = 41
ORIG_HOLE_HI = 42
RESP_HOLE_HI = 43
ORIG_RETRANS = 44
RESP_RETRANS = 45
ORIG_OOO = 46  # segments that filled a gap
RESP_OOO = 47
ORIG_GAPS = 48
RESP_GAPS = 49
ORIG_ZERO_WIN = 50
RESP_ZERO_WIN = 51
ORIG_LAST_SYN = 52  # sequence numbers of the last SYN, FIN, RST per side (Zeek's hist_last_*)
RESP_LAST_SYN = 53
ORIG_LAST_FIN = 54
RESP_LAST_FIN = 55
ORIG_LAST_RST = 56
RESP_LAST_RST = 57
WHEEL_NEXT = 58  # timer-wheel list links: record + 1, 0 ends the list
WHEEL_PREV = 59
WHEEL_SLOT = 60  # the wheel slot the record is listed on, or -1
N_RI = 61

HISTORY_MAX = 16  # characters of Zeek-style history kept per flow

# --- Zeek's TCP endpoint states ---------------------------------------------------
EP_INACTIVE = 0
EP_SYN_SENT = 1
EP_SYN_ACK_SENT = 2
EP_PARTIAL = 3
EP_ESTABLISHED = 4
EP_CLOSED = 5
EP_RESET = 6

# --- why a flow ended --------------------------------------------------------------
END_NONE = 0
END_FIN = 1  # FIN seen from both sides
END_RST = 2
END_IDLE = 3  # idle timeout
END_ACTIVE = 4  # active timeout: the flow lasted too long and was cut
END_TABLE_FULL = 5  # evicted to make room for a new flow
END_TRACE = 6  # still open when the trace ended

# --- hash-table designs ------------------------------------------------------------
LINEAR = 0
ROBIN_HOOD = 1
CUCKOO = 2  # bucketized cuckoo with signatures, as DPDK's rte_hash
CUCKOO_PP = 3  # the same with per-bucket hints that skip the second bucket
CHAINED = 4
HOPSCOTCH = 5
N_DESIGNS = 6

# --- expiry strategies -------------------------------------------------------------
EXPIRE_SCAN = 0
EXPIRE_WHEEL = 1
EXPIRE_LAZY = 2

# --- timeouts (ns), one per class, in the ``timeouts`` array ------------------------
T_TCP_ESTABLISHED = 0
T_TCP_HANDSHAKE = 1  # not yet established
T_TCP_CLOSED = 2  # linger after FIN both ways or RST
T_UDP = 3
T_OTHER = 4
T_ACTIVE = 5  # 0: none
N_TIMEOUTS = 6

# --- table statistics (``stats`` array) --------------------------------------------
S_LOOKUPS = 0
S_HITS = 1
S_INSERTS = 2
S_FAILED_INSERTS = 3  # the design could not place a key (table full)
S_REMOVES = 4
S_PROBES = 5  # slots or entries examined by lookups
S_INSERT_PROBES = 6  # slots examined or entries moved by inserts
S_DISPLACEMENTS = 7  # entries moved by inserts (cuckoo kicks, Robin Hood swaps, hops)
S_EXPIRY_VISITS = 8  # records visited by the expiry strategy
S_EXPIRED = 9
S_EVICTED = 10
S_SKIPPED_PACKETS = 11  # IP packets with no flow: later fragments
S_LIVE = 12
S_LIVE_MAX = 13
HIST_BINS = 64
S_PROBE_HIST = 16  # HIST_BINS bins: probes per lookup
S_INSERT_HIST = S_PROBE_HIST + HIST_BINS  # probes per insert
N_STATS = S_INSERT_HIST + HIST_BINS
