%% akt_peer_bench: the Erlang/OTP peer for akt's local benchmark workloads
%% (see BENCHMARKS.md). It does what `akt_bench <workload>` does, with Erlang
%% processes, and prints one line per figure:
%%
%%   RESULT erlang <workload> <metric> <value> <unit>
%%
%% Build and run:
%%
%%   erlc -o DIR akt_peer_bench.erl
%%   erl -noshell -pa DIR -run akt_peer_bench main <workload>
%%   erl +P 2000000 -noshell -pa DIR -run akt_peer_bench main spawn
%%
%% Exit status: 0 done, 2 bad command line, 3 unknown workload (scripts/bench
%% reads 3 as "not implemented here": an empty cell, no warning).
%%
%% Workloads and their size variables (defaults from BENCHMARKS.md):
%%
%%   pingpong      PP_N=1000000           roundtrips_per_sec, mean_roundtrip_ns
%%   fanin         FANIN_SENDERS=4,       msgs_per_sec, peak_rss_mb
%%                 FANIN_PER_SENDER=2500000
%%   ask_async     ASK_N=200000           asks_per_sec
%%   ask_blocking  -                      (nothing: Erlang has no plain threads)
%%   spawn         SPAWN_N=1000000        spawns_per_sec, stops_per_sec,
%%                                        bytes_per_actor
%%
%% What is timed:
%% - pingpong: from the start message to the ping process until the main
%%   process has "done" after N round trips (one message in flight).
%% - fanin: from the go messages to the senders until the receiver has
%%   processed all SENDERS * PER_SENDER messages. Senders send chunks of
%%   ?FANIN_CHUNK and then message themselves to continue (as the CAF and akt
%%   senders do; Erlang would preempt them anyway). Peak RSS is the BEAM's
%%   VmHWM from /proc/self/status at the end.
%% - ask_async: a process sends a request carrying a fresh reference and
%%   waits for the reply with a selective receive on that reference, N times in
%%   sequence (the fastest request/reply idiom; gen_server:call is slower).
%% - spawn: spawns N idle processes (each bumps a shared counter, then waits
%%   in receive) and keeps their pids; the spawn phase ends when all N have
%%   started. bytes_per_actor = growth of erlang:memory(processes) over the
%%   spawn phase, minus the growth of the spawning process itself (it holds the
%%   pid list), divided by N. That is the memory the VM accounts to the
%%   processes (heap, stack, process struct), not the OS resident-set growth,
%%   which is printed on stderr for reference. Stop: exit(Pid, kill) to every
%%   process; the stop phase ends when the VM's process count is back to where
%%   it was before the spawns.
-module(akt_peer_bench).
-export([main/1]).

-define(FANIN_CHUNK, 1000).

main([Workload | _]) ->
    Status =
        case Workload of
            "pingpong" -> pingpong(), 0;
            "fanin" -> fanin(), 0;
            "ask_async" -> ask_async(), 0;
            "ask_blocking" ->
                info("ask_blocking has no Erlang counterpart (no plain threads)"),
                0;
            "spawn" -> spawn_bench(), 0;
            _ ->
                info("unknown workload '~s'; one of: pingpong fanin ask_async "
                     "ask_blocking spawn", [Workload]),
                3
        end,
    erlang:halt(Status);
main([]) ->
    info("usage: erl -noshell -pa DIR -run akt_peer_bench main <workload>"),
    erlang:halt(2).

%% -- pingpong -----------------------------------------------------------------

pingpong() ->
    N = env_int("PP_N", 1000000),
    Main = self(),
    Pong = spawn(fun pong_loop/0),
    Ping = spawn(fun() ->
                         receive start -> ok end,
                         ping_loop(Pong, 0, N),
                         Main ! done
                 end),
    T0 = now_ns(),
    Ping ! start,
    receive done -> ok end,
    T1 = now_ns(),
    Pong ! stop,
    Secs = (T1 - T0) / 1.0e9,
    report("pingpong", "roundtrips_per_sec", N / Secs, "rt/s"),
    report("pingpong", "mean_roundtrip_ns", (T1 - T0) / N, "ns").

pong_loop() ->
    receive
        {ping, From, X} -> From ! {pong, X}, pong_loop();
        stop -> ok
    end.

ping_loop(_Pong, N, N) -> ok;
ping_loop(Pong, I, N) ->
    Pong ! {ping, self(), I},
    receive {pong, I} -> ping_loop(Pong, I + 1, N) end.

%% -- fanin --------------------------------------------------------------------

fanin() ->
    Senders = env_int("FANIN_SENDERS", 4),
    PerSender = env_int("FANIN_PER_SENDER", 2500000),
    Total = Senders * PerSender,
    Main = self(),
    Receiver = spawn(fun() -> receive_loop(Total, Main) end),
    Pids = [spawn(fun() -> receive go -> send_loop(Receiver, PerSender) end end)
            || _ <- lists:seq(1, Senders)],
    T0 = now_ns(),
    [P ! go || P <- Pids],
    receive done -> ok end,
    T1 = now_ns(),
    report("fanin", "msgs_per_sec", Total / ((T1 - T0) / 1.0e9), "msg/s"),
    report("fanin", "peak_rss_mb", peak_rss_bytes() / 1048576, "MB").

receive_loop(0, Main) -> Main ! done;
receive_loop(Left, Main) ->
    receive _Msg -> receive_loop(Left - 1, Main) end.

send_loop(_Receiver, 0) -> ok;
send_loop(Receiver, Left) ->
    K = min(?FANIN_CHUNK, Left),
    send_chunk(Receiver, K),
    self() ! go,
    receive go -> send_loop(Receiver, Left - K) end.

send_chunk(_Receiver, 0) -> ok;
send_chunk(Receiver, K) -> Receiver ! K, send_chunk(Receiver, K - 1).

%% -- ask_async ----------------------------------------------------------------

ask_async() ->
    N = env_int("ASK_N", 200000),
    Main = self(),
    Server = spawn(fun ask_server/0),
    Asker = spawn(fun() ->
                          receive start -> ok end,
                          ask_loop(Server, 0, N),
                          Main ! done
                  end),
    T0 = now_ns(),
    Asker ! start,
    receive done -> ok end,
    T1 = now_ns(),
    Server ! stop,
    report("ask_async", "asks_per_sec", N / ((T1 - T0) / 1.0e9), "asks/s").

ask_server() ->
    receive
        {ask, From, Ref, X} -> From ! {Ref, X + 1}, ask_server();
        stop -> ok
    end.

ask_loop(_Server, N, N) -> ok;
ask_loop(Server, I, N) ->
    Ref = make_ref(),
    Server ! {ask, self(), Ref, I},
    receive
        {Ref, Reply} when Reply =:= I + 1 -> ask_loop(Server, I + 1, N)
    end.

%% -- spawn --------------------------------------------------------------------

spawn_bench() ->
    N = env_int("SPAWN_N", 1000000),
    Started = counters:new(1, [write_concurrency]),
    BaseCount = erlang:system_info(process_count),
    garbage_collect(),
    Mem0 = erlang:memory(processes),
    {memory, Own0} = process_info(self(), memory),
    Rss0 = rss_bytes(),
    T0 = now_ns(),
    Pids = spawn_idle(N, Started, []),
    wait_counter(Started, N),
    T1 = now_ns(),
    garbage_collect(),
    Mem1 = erlang:memory(processes),
    {memory, Own1} = process_info(self(), memory),
    Rss1 = rss_bytes(),
    T2 = now_ns(),
    [exit(P, kill) || P <- Pids],
    wait_process_count(BaseCount),
    T3 = now_ns(),
    report("spawn", "spawns_per_sec", N / ((T1 - T0) / 1.0e9), "spawns/s"),
    report("spawn", "stops_per_sec", N / ((T3 - T2) / 1.0e9), "stops/s"),
    report("spawn", "bytes_per_actor", ((Mem1 - Mem0) - (Own1 - Own0)) / N, "B"),
    info("spawn: OS resident-set growth per process ~.1f B (incl. the pid list)",
         [(Rss1 - Rss0) / N]).

spawn_idle(0, _Started, Acc) -> Acc;
spawn_idle(K, Started, Acc) ->
    P = spawn(fun() -> counters:add(Started, 1, 1), receive stop -> ok end end),
    spawn_idle(K - 1, Started, [P | Acc]).

wait_counter(Counter, Target) ->
    case counters:get(Counter, 1) >= Target of
        true -> ok;
        false -> receive after 1 -> wait_counter(Counter, Target) end
    end.

wait_process_count(Target) ->
    case erlang:system_info(process_count) =< Target of
        true -> ok;
        false -> receive after 1 -> wait_process_count(Target) end
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

%% Six significant digits, like printf's %.6g closely enough for parsing.
format_number(V) when is_integer(V) -> integer_to_list(V);
format_number(V) -> io_lib:format("~.6g", [V]).

info(Msg) -> info(Msg, []).
info(Fmt, Args) -> io:format(standard_error, "akt_peer_bench: " ++ Fmt ++ "~n", Args).

%% The BEAM's own /proc files: this process is the one reading them.
proc_file(Name) ->
    {ok, Bin} = file:read_file("/proc/self/" ++ Name),
    binary_to_list(Bin).

peak_rss_bytes() ->
    Lines = string:split(proc_file("status"), "\n", all),
    [Kb] = [list_to_integer(string:trim(string:trim(Rest), trailing, " kB"))
            || "VmHWM:" ++ Rest <- Lines],
    Kb * 1024.

rss_bytes() ->
    [_Size, Resident | _] = string:split(proc_file("statm"), " ", all),
    list_to_integer(Resident) * 4096.
