%% akt_remote_bench: the Erlang/OTP peer for akt's remote benchmark workloads
%% (see BENCHMARKS.md): the same workloads as `akt_bench remote_*`, between two
%% Erlang nodes on 127.0.0.1 over Erlang distribution. Prints one line per
%% figure:
%%
%%   RESULT erlang <workload> <metric> <value> <unit>
%%
%% Two nodes take part: the server node only lives (its processes are spawned
%% by the client), the client node runs the workload and prints the figures.
%% scripts/bench (run_erlang) starts them like this, after starting its own
%% epmd (`epmd -address 127.0.0.1 -port EPMD_PORT`):
%%
%%   ERL_EPMD_PORT=EPMD_PORT erl -noshell -start_epmd false \
%%     -name srv@127.0.0.1 -setcookie C \
%%     -kernel inet_dist_use_interface '{127,0,0,1}' \
%%     -kernel inet_dist_listen_min P1 -kernel inet_dist_listen_max P1 \
%%     -pa DIR -run akt_remote_bench server_node LIMIT_S &
%%   ERL_EPMD_PORT=EPMD_PORT erl -noshell -start_epmd false \
%%     -name cli@127.0.0.1 -setcookie C ... (P2 as the fixed port) \
%%     -pa DIR -run akt_remote_bench main <workload> srv@127.0.0.1
%%
%% Exit status of the client: 0 done, 1 failure (no connection, a time limit,
%% a wrong answer), 2 bad command line, 3 unknown workload (scripts/bench reads
%% 3 as "not implemented here"). The server node halts when the client node
%% goes away, or after LIMIT_S seconds at the latest.
%%
%% Workloads and their size variables (defaults from BENCHMARKS.md):
%%
%%   remote_pingpong  RPP_N=100000   roundtrips_per_sec, p50_rt_us, p99_rt_us
%%   remote_oneway    RTP_N=1000000  msgs_per_sec, peak_rss_mb_client,
%%                                   peak_rss_mb_server
%%   remote_ask       RASK_N=200000  asks_per_sec, p99_us (64 in flight)
%%   grain_tell_remote  GRAIN_N=10000, GRAIN_MSGS=1000000
%%                                   activations_per_sec, msgs_per_sec
%%   grain_ask_remote   GRAIN_N, GRAIN_ASK_N=200000   asks_per_sec
%%
%% Every workload spawns one fresh server process on the server node
%% (spawn(Node, M, F, A)) and one client process on the client node; all the
%% traffic goes over the one distribution connection between the nodes, with
%% the default settings. For the grain workloads the server process is the
%% grain host (grain_host/2); the grains and their collector are the ones of
%% akt_peer_bench (the local grain_tell and grain_ask), which must be in the
%% server node's code path too.
%%
%% What is timed:
%% - remote_pingpong: the client process sends {ping, self(), I} to the
%%   server process, which sends {pong, I} back; the next ping goes out when
%%   the pong is in (one message in flight), RPP_N round trips. Every round
%%   trip is timed on its own (pong to pong) for p50 and p99.
%% - remote_oneway: the client process sends RTP_N small messages (integers)
%%   to the server process in a plain loop (distribution applies its own
%%   back-pressure: a sender is suspended while the distribution buffer is
%%   full), then {'end', self()}; the server counts what it processed and
%%   answers the end marker with its count and its node's peak RSS (VmHWM).
%%   Messages between two processes keep their order, so the answer means all
%%   were processed. The count is checked to be RTP_N. peak_rss_mb_client is
%%   the client node's VmHWM at the end.
%% - remote_ask: the client process keeps 64 requests {ask, self(), I, T} in
%%   flight; the server answers {answer, I + 1, T}; each answer (checked to be
%%   a request's index + 1) issues the next request, until RASK_N answers are
%%   in. Each ask is timed from its request to its answer for the p99.
%% - grain_tell_remote: the grains (processes spawned on their first message,
%%   found by name) live on the server node, under a grain host process with
%%   its own name -> pid map and the collector. The client process (the
%%   driver) sends {tell, Name, I} to the host (Name a binary "g-K"), which
%%   looks the name up, spawns the grain on a miss and forwards I to it. Each
%%   grain sends a notice to the collector when its count reaches 1 and when it
%%   reaches 1 + GRAIN_MSGS div GRAIN_N. After each phase's sends the driver
%%   makes one request, {wait, self(), Ref} to the host, which passes it to the
%%   collector, which answers {Ref, GRAIN_N} to the driver once it has GRAIN_N
%%   notices: the phase ends with that answer. Phase A: one message to each of
%%   the GRAIN_N names, activations_per_sec = GRAIN_N / phase A seconds; phase
%%   B: GRAIN_MSGS messages round robin (I to name I rem GRAIN_N),
%%   msgs_per_sec = GRAIN_MSGS / phase B seconds.
%% - grain_ask_remote: GRAIN_ASK_N sequential request/replies from the driver,
%%   round robin over the names: {ask, self(), Ref, Name} to the host, which
%%   forwards {ask, Driver, Ref} to the grain (spawned on a miss); the grain
%%   answers {Ref, Count} straight to the driver, which waits for it in a
%%   selective receive on Ref; the count is checked (ask I gets
%%   I div GRAIN_N + 1).
-module(akt_remote_bench).
-export([main/1, server_node/1, server_loop/1, grain_host/2]).

-define(ASK_IN_FLIGHT, 64).
%% How long one wait for a message may last before the run counts as failed.
-define(STEP_TIMEOUT_MS, 60000).

%% -- client node --------------------------------------------------------------

main([Workload, ServerNodeName]) ->
    Known = ["remote_pingpong", "remote_oneway", "remote_ask",
             "grain_tell_remote", "grain_ask_remote"],
    case lists:member(Workload, Known) of
        false ->
            info("unknown workload '~s'; one of: ~s", [Workload, lists:join(" ", Known)]),
            erlang:halt(3);
        true ->
            ok
    end,
    LimitS = env_int("REMOTE_TIMEOUT_S", 240),
    spawn(fun() ->
                  receive after LimitS * 1000 ->
                          info("time limit of ~b s reached (REMOTE_TIMEOUT_S)", [LimitS]),
                          erlang:halt(1)
                  end
          end),
    Node = list_to_atom(ServerNodeName),
    case connect(Node, erlang:monotonic_time(millisecond) + 30000) of
        ok -> ok;
        error ->
            info("could not connect to ~s in 30 s", [Node]),
            erlang:halt(1)
    end,
    Server = case Workload of
                 "grain_" ++ _ ->
                     spawn(Node, ?MODULE, grain_host,
                           [env_int("GRAIN_N", 10000), env_int("GRAIN_MSGS", 1000000)]);
                 _ ->
                     spawn(Node, ?MODULE, server_loop, [0])
             end,
    Main = self(),
    Client = spawn(fun() ->
                           Result = try run(Workload, Server) of
                                        R -> R
                                    catch
                                        C:E:St ->
                                            info("~s failed: ~p:~p ~p", [Workload, C, E, St]),
                                            failed
                                    end,
                           Main ! {client_done, Result}
                   end),
    Status = receive
                 {client_done, ok} -> 0;
                 {client_done, _} -> 1
             end,
    _ = Client,
    Server ! stop,
    erlang:halt(Status);
main(_) ->
    info("usage: erl ... -run akt_remote_bench main <workload> <server node>"),
    erlang:halt(2).

connect(Node, Deadline) ->
    case net_kernel:connect_node(Node) of
        true -> ok;
        _ ->
            case erlang:monotonic_time(millisecond) > Deadline of
                true -> error;
                false -> receive after 50 -> connect(Node, Deadline) end
            end
    end.

run("remote_pingpong", Server) ->
    N = env_int("RPP_N", 100000),
    T0 = now_ns(),
    Rts = pingpong_loop(Server, 0, N, T0, []),
    T1 = now_ns(),
    Sorted = lists:sort(Rts),
    report("remote_pingpong", "roundtrips_per_sec", N / ((T1 - T0) / 1.0e9), "rt/s"),
    report("remote_pingpong", "p50_rt_us", percentile(Sorted, N, 0.50) / 1.0e3, "us"),
    report("remote_pingpong", "p99_rt_us", percentile(Sorted, N, 0.99) / 1.0e3, "us"),
    ok;
run("remote_oneway", Server) ->
    N = env_int("RTP_N", 1000000),
    T0 = now_ns(),
    send_loop(Server, N),
    Server ! {'end', self()},
    receive
        {done, Count, ServerPeak} ->
            T1 = now_ns(),
            case Count of
                N ->
                    report("remote_oneway", "msgs_per_sec", N / ((T1 - T0) / 1.0e9), "msg/s"),
                    report("remote_oneway", "peak_rss_mb_client",
                           peak_rss_bytes() / 1048576, "MB"),
                    report("remote_oneway", "peak_rss_mb_server", ServerPeak / 1048576, "MB"),
                    ok;
                _ ->
                    info("remote_oneway: the server processed ~b of ~b", [Count, N]),
                    failed
            end
    after ?STEP_TIMEOUT_MS ->
            info("remote_oneway: no answer from the server"),
            failed
    end;
run("remote_ask", Server) ->
    N = env_int("RASK_N", 200000),
    T0 = now_ns(),
    First = min(?ASK_IN_FLIGHT, N),
    [Server ! {ask, self(), I, T0} || I <- lists:seq(0, First - 1)],
    Lats = ask_loop(Server, First, 0, N, []),
    T1 = now_ns(),
    report("remote_ask", "asks_per_sec", N / ((T1 - T0) / 1.0e9), "asks/s"),
    report("remote_ask", "p99_us", percentile(lists:sort(Lats), N, 0.99) / 1.0e3, "us"),
    ok;
run("grain_tell_remote", Host) ->
    N = env_int("GRAIN_N", 10000),
    Msgs = env_int("GRAIN_MSGS", 1000000),
    _ = akt_peer_bench:grain_target(N, Msgs),  % the warning, if any
    Names = akt_peer_bench:grain_names(N),
    T0 = now_ns(),
    grain_tell_loop(Host, Names, N, 0, N),
    grain_wait_phase(Host, N),
    T1 = now_ns(),
    grain_tell_loop(Host, Names, N, 0, Msgs),
    grain_wait_phase(Host, N),
    T2 = now_ns(),
    report("grain_tell_remote", "activations_per_sec", N / ((T1 - T0) / 1.0e9), "act/s"),
    report("grain_tell_remote", "msgs_per_sec", Msgs / ((T2 - T1) / 1.0e9), "msg/s"),
    ok;
run("grain_ask_remote", Host) ->
    N = env_int("GRAIN_N", 10000),
    Asks = env_int("GRAIN_ASK_N", 200000),
    Names = akt_peer_bench:grain_names(N),
    T0 = now_ns(),
    grain_ask_loop(Host, Names, N, 0, Asks),
    T1 = now_ns(),
    report("grain_ask_remote", "asks_per_sec", Asks / ((T1 - T0) / 1.0e9), "asks/s"),
    ok.

grain_tell_loop(_Host, _Names, _N, To, To) -> ok;
grain_tell_loop(Host, Names, N, I, To) ->
    Host ! {tell, element(I rem N + 1, Names), I},
    grain_tell_loop(Host, Names, N, I + 1, To).

grain_wait_phase(Host, N) ->
    Ref = make_ref(),
    Host ! {wait, self(), Ref},
    receive
        {Ref, N} -> ok
    after ?STEP_TIMEOUT_MS ->
            error(phase_incomplete)
    end.

grain_ask_loop(_Host, _Names, _N, To, To) -> ok;
grain_ask_loop(Host, Names, N, I, To) ->
    Ref = make_ref(),
    Host ! {ask, self(), Ref, element(I rem N + 1, Names)},
    Expected = I div N + 1,
    receive
        {Ref, Expected} -> grain_ask_loop(Host, Names, N, I + 1, To);
        {Ref, Other} -> error({wrong_count, I, Other})
    after ?STEP_TIMEOUT_MS ->
            error({no_answer, I})
    end.

pingpong_loop(_Server, N, N, _Last, Acc) -> Acc;
pingpong_loop(Server, I, N, Last, Acc) ->
    Server ! {ping, self(), I},
    receive
        {pong, I} ->
            Now = now_ns(),
            pingpong_loop(Server, I + 1, N, Now, [Now - Last | Acc])
    after ?STEP_TIMEOUT_MS ->
            error(no_pong)
    end.

send_loop(_Server, 0) -> ok;
send_loop(Server, K) -> Server ! K, send_loop(Server, K - 1).

ask_loop(_Server, _Sent, N, N, Acc) -> Acc;
ask_loop(Server, Sent, Answered, N, Acc) ->
    receive
        {answer, X, T} ->
            Now = now_ns(),
            %% X = index + 1 of a request already sent.
            (X >= 1 andalso X =< Sent) orelse error({wrong_answer, X}),
            Sent1 = case Sent < N of
                        true -> Server ! {ask, self(), Sent, Now}, Sent + 1;
                        false -> Sent
                    end,
            ask_loop(Server, Sent1, Answered + 1, N, [Now - T | Acc])
    after ?STEP_TIMEOUT_MS ->
            error(no_answer)
    end.

%% Nearest rank on a sorted list of N samples.
percentile(Sorted, N, Q) ->
    lists:nth(round(Q * (N - 1)) + 1, Sorted).

%% -- server node --------------------------------------------------------------

%% The server node's -run function: lives until the client node goes away
%% (after it came), or LimitS seconds at the latest.
server_node([LimitS]) ->
    ok = net_kernel:monitor_nodes(true),
    Deadline = erlang:monotonic_time(millisecond) + list_to_integer(LimitS) * 1000,
    server_wait(Deadline);
server_node(_) ->
    info("usage: erl ... -run akt_remote_bench server_node <limit seconds>"),
    erlang:halt(2).

server_wait(Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    receive
        {nodeup, _} -> server_wait(Deadline);
        {nodedown, _} -> erlang:halt(0)
    after Left ->
            info("server node: time limit reached"),
            erlang:halt(1)
    end.

%% The server process of every workload, spawned by the client.
server_loop(Count) ->
    receive
        X when is_integer(X) -> server_loop(Count + 1);
        {ping, From, I} -> From ! {pong, I}, server_loop(Count);
        {ask, From, I, T} -> From ! {answer, I + 1, T}, server_loop(Count);
        {'end', From} -> From ! {done, Count, peak_rss_bytes()}, server_loop(0);
        stop -> ok
    end.

%% The grain host of the grain workloads, spawned by the client: its own
%% name -> pid map (a miss spawns the grain on this node) and the collector.
grain_host(N, Msgs) ->
    Target = 1 + Msgs div N,
    Collector = spawn(akt_peer_bench, grain_collector, [N, wait]),
    grain_host_loop(#{}, Collector, Target).

grain_host_loop(Tab, Collector, Target) ->
    receive
        {tell, Name, X} ->
            {Pid, Tab1} = grain_lookup(Name, Tab, Collector, Target),
            Pid ! X,
            grain_host_loop(Tab1, Collector, Target);
        {ask, From, Ref, Name} ->
            %% The grain answers the driver itself.
            {Pid, Tab1} = grain_lookup(Name, Tab, Collector, Target),
            Pid ! {ask, From, Ref},
            grain_host_loop(Tab1, Collector, Target);
        {wait, _From, _Ref} = Wait ->
            Collector ! Wait,
            grain_host_loop(Tab, Collector, Target);
        stop ->
            [exit(P, kill) || P <- maps:values(Tab)],
            exit(Collector, kill),
            ok
    end.

grain_lookup(Name, Tab, Collector, Target) ->
    case Tab of
        #{Name := Pid} ->
            {Pid, Tab};
        _ ->
            Pid = spawn(akt_peer_bench, grain_loop, [0, Collector, Target]),
            {Pid, Tab#{Name => Pid}}
    end.

%% -- helpers ------------------------------------------------------------------

env_int(Name, Default) ->
    case os:getenv(Name) of
        false -> Default;
        "" -> Default;
        V ->
            try list_to_integer(V) of
                I when I > 0 -> I;
                _ -> info("ignoring bad ~s=~s", [Name, V]), Default
            catch error:badarg -> info("ignoring bad ~s=~s", [Name, V]), Default
            end
    end.

now_ns() -> erlang:monotonic_time(nanosecond).

report(Workload, Metric, Value, Unit) ->
    io:format("RESULT erlang ~s ~s ~s ~s~n",
              [Workload, Metric, format_number(Value), Unit]).

format_number(V) when is_integer(V) -> integer_to_list(V);
format_number(V) -> io_lib:format("~.6g", [V]).

info(Msg) -> info(Msg, []).
info(Fmt, Args) -> io:format(standard_error, "akt_remote_bench: " ++ Fmt ++ "~n", Args).

peak_rss_bytes() ->
    {ok, Bin} = file:read_file("/proc/self/status"),
    Lines = string:split(binary_to_list(Bin), "\n", all),
    [Kb] = [list_to_integer(string:trim(string:trim(Rest), trailing, " kB"))
            || "VmHWM:" ++ Rest <- Lines],
    Kb * 1024.
