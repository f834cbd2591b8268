"""hubbub beside ejabberd, side by side in one run with one trio driver.

    python -m scripts.bench_ejabberd                 # the issue's sizes (about 10 minutes)
    python -m scripts.bench_ejabberd --quick         # seconds per workload (the smoke test)
    python -m scripts.bench_ejabberd --servers hubbub,ejabberd_mam --workloads group

Installs nothing. When Debian's ejabberd is installed (`apt-get install -y
ejabberd erlang-p1-sqlite3`, or `make ejabberd`), it is started on loopback
with a configuration of this script's own in a temporary directory: plain
TCP c2s, carbons (XEP-0280), MUC, and MAM on in mnesia (ejabberd's default
store: "archive (MAM) on") or off ("no archive"), one server each; on
request (`--servers ...,ejabberd_mam_sqlite`) also MAM in SQLite, the store
hubbub embeds. The accounts are registered in band. hubbub is `gateway.cli serve` on a
temporary data dir (scripts/load.py's subprocess). The same workloads run
against each, from this one process:

- chat at saturation (500 accounts x 2 devices) and at 200 msg/s:
  scripts/loadmix/chat.py for hubbub, `xmpp_load.chat` for ejabberd;
- a 1,000-member group, one message at a time (a MUC room of 1,000
  occupants on ejabberd): scripts/loadmix/groups.py and `xmpp_load.group`;
- logins of 3,000 devices: scripts/loadmix/login.py and `xmpp_load.logins`;
- 10,000 idle logged-in devices on a fresh server: RSS growth per device.

Server CPU is user + system time from /proc over each workload's busy phase
(for ejabberd, the Erlang VM's whole process tree). The table gives each
figure per server, hubbub's ratio to each ejabberd configuration, and each
target (as the issue sets them: against MAM in mnesia, logins and memory
against no archive) met or not. Exit status 0 when every count matched (each
delivery, each login) and no server logged an error; 1 otherwise; 2 when
ejabberd is not installed.

Modules: `xmpp` (a minimal XMPP client on trio sockets), `ejabberd`
(configure, start, register), `xmpp_load` (the XMPP workloads), `sides`
(each server through its workloads), `report` (the table), `cli`.
"""
