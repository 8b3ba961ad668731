"""Where the parse kernel writes each field, as plain integers.

The kernel fills a few 2-D arrays, one per integer width, whose rows are columns
(``u32[CAPLEN, i]`` is packet ``i``'s caplen). Each row is a contiguous array, so the
Python layer wraps it as an Arrow column without copying. A ``layers`` bit mask per
packet says which fields are present; the Python layer turns it into Arrow validity.

Kernels import these constants at compile time; nothing here knows of Arrow.
"""

# --- 64-bit rows (uint64) ---------------------------------------------------------
ETH_SRC = 0
ETH_DST = 1
N_U64 = 2

# --- 32-bit rows (uint32) ---------------------------------------------------------
CAPLEN = 0
WIRELEN = 1
IFACE = 2
IP_ID = 3
IP_LEN = 4
TCP_SEQ = 5
TCP_ACK = 6
TCP_TSVAL = 7
TCP_TSECR = 8
L3_OFFSET = 9
L4_OFFSET = 10
PAYLOAD_OFFSET = 11
PAYLOAD_LEN = 12
LAYERS = 13
N_U32 = 14

# --- 16-bit rows (uint16) ---------------------------------------------------------
LINKTYPE = 0
VLAN_ID = 1
ETHERTYPE = 2
FRAG_OFFSET = 3
SPORT = 4
DPORT = 5
TCP_FLAGS = 6
TCP_WIN = 7
TCP_MSS = 8
STATUS = 9
N_U16 = 10

# --- 8-bit rows (uint8) -----------------------------------------------------------
IP_VERSION = 0
IP_PROTO = 1
IP_TTL = 2
MORE_FRAGMENTS = 3
TCP_WSCALE = 4
TCP_SACK_PERM = 5
MPTCP_SUBTYPE = 6
ICMP_TYPE = 7
ICMP_CODE = 8
N_U8 = 9

# --- layer bits: which fields a packet has -----------------------------------------
HAS_ETH = 1 << 0  # an Ethernet header: eth_src, eth_dst
HAS_VLAN = 1 << 1  # at least one 802.1Q/802.1ad tag: vlan_id
HAS_ETHERTYPE = 1 << 2  # the link layer named the network protocol: ethertype
HAS_L3 = 1 << 3  # the link layer was walked to its end: l3_offset
HAS_IP = 1 << 4  # an IPv4 or IPv6 header: ip_* columns, src_ip, dst_ip, frag fields
HAS_IP_ID = 1 << 5  # IPv4, or IPv6 with a fragment header: ip_id
HAS_L4 = 1 << 6  # the header after IP is present (not a later fragment): l4_offset
HAS_PORTS = 1 << 7  # a TCP or UDP header: sport, dport
HAS_TCP = 1 << 8  # a TCP header: tcp_* columns except the options below
HAS_MSS = 1 << 9
HAS_WSCALE = 1 << 10
HAS_TCP_TS = 1 << 11  # TCP timestamps option: tcp_tsval, tcp_tsecr
HAS_MPTCP = 1 << 12
HAS_ICMP = 1 << 13  # ICMP or ICMPv6 header: icmp_type, icmp_code
HAS_PAYLOAD = 1 << 14  # the L4 header's length is sound: payload_offset, payload_len
HAS_TIME = 1 << 15  # the record carries a timestamp (a pcapng Simple Packet Block does not)
HAS_LINKTYPE = 1 << 16  # the packet's interface is known: linktype

# --- status codes: the first anomaly met while parsing ------------------------------
OK = 0
UNKNOWN_LINKTYPE = 1
TRUNC_LINK = 2
TRUNC_IP = 3
BAD_IP_VERSION = 4
BAD_IHL = 5
BAD_IP_LEN = 6
IP_LEN_EXCEEDS_FRAME = 7
TRUNC_IPV6_EXT = 8
BAD_IPV6_EXT_LEN = 9
TRUNC_TCP = 10
BAD_TCP_OFFSET = 11
BAD_TCP_OPTION = 12
TRUNC_UDP = 13
BAD_UDP_LEN = 14
TRUNC_ICMP = 15
CAPLEN_EXCEEDS_WIRELEN = 16
UNKNOWN_INTERFACE = 17

# --- why a framing kernel stopped --------------------------------------------------
STOP_FULL = 0  # the output arrays are full: call again from the returned offset
STOP_END = 1  # the buffer ended exactly on a record boundary
STOP_PARTIAL = 2  # the buffer ends inside a record: need more bytes, or the file is cut
STOP_CORRUPT = 3  # a record header cannot be right: reading must stop here

MAX_PACKET = 262144  # largest caplen a capture tool writes (libpcap's MAXIMUM_SNAPLEN)
