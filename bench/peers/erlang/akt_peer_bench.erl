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
%%   routing       ROUTING_N=10000000,    msgs_per_sec, peak_rss_mb
%%                 ROUTEES=8
%%   timers        TIMER_ACTORS=100000,   timer_fires_per_sec, fire_accuracy,
%%                 TIMER_INTERVAL_MS=100, cpu_percent, peak_rss_mb
%%                 TIMER_SECONDS=5
%%   grain_tell    GRAIN_N=10000,         activations_per_sec, msgs_per_sec
%%                 GRAIN_MSGS=1000000
%%   grain_ask     GRAIN_N,               asks_per_sec
%%                 GRAIN_ASK_N=200000
%%
%% (grain_tell_remote and grain_ask_remote are in akt_remote_bench.)
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
%% - routing: a router process that forwards every message it receives to
%%   ROUTEES worker processes in turn (round robin over a tuple of pids: OTP
%%   has no router of its own, and this is the plain idiom). A driver process
%%   sends N small messages (integers) to the router in chunks of
%%   ?FANIN_CHUNK, continuing through its own mailbox as the fanin senders do,
%%   then one end marker per routee (round robin gives each routee exactly one,
%%   after all its data). Each worker counts what it processed and, on its
%%   marker, sends the count to the main process; the time ends when all
%%   ROUTEES counts are in (their sum is checked to be N).
%% - timers: TIMER_ACTORS processes, each with its own periodic timer at
%%   TIMER_INTERVAL_MS on a fixed-rate grid: on start and on every tick the
%%   process calls erlang:send_after(Next, self(), tick, [{abs, true}]) with
%%   Next = previous grid point + interval (grid points already passed are
%%   skipped, as akt's Scheduler does). erlang:send_after is the BIF timer on
%%   the scheduler's own timer wheel; timer:send_interval would route every
%%   tick through the single timer server process. Process i's first tick
%%   comes interval * (1 + i / actors) after its start, so the phases spread
%%   evenly over an interval. Every tick processed bumps a counters counter
%%   (write_concurrency). Two intervals after all processes have armed their
%%   first timer (so all are ticking), the window of TIMER_SECONDS starts:
%%   timer_fires_per_sec = ticks processed in the window / window seconds;
%%   fire_accuracy = ticks processed / (actors * window * 1000 / interval);
%%   cpu_percent = CPU time of the whole BEAM OS process over the window
%%   (utime + stime of /proc/self/stat, all threads: schedulers, their busy
%%   waiting, dirty schedulers, I/O) / window wall time * 100, the same
%%   kernel accounting as getrusage(RUSAGE_SELF) in the C++ programs.
%%   erlang:statistics(runtime) counts user time only (it misses the system
%%   time of the schedulers' sleeping and waking), so it is only printed on
%%   stderr for reference. The main process runs at high priority so that
%%   spawning and measuring are not starved by the ticking processes.
%% - grain_tell: "grains" are processes spawned on their first message and
%%   found by name. The names <<"g-0">> .. <<"g-(GRAIN_N-1)">> (binaries) are
%%   built beforehand (not timed). The driver (the main process) looks every
%%   name up in its own name -> pid map for every message; a miss spawns the
%%   grain and records it (the activation). Messages are plain sends of an
%%   integer. Each grain counts its messages and sends a notice to a collector
%%   process when its count reaches 1 and when it reaches
%%   1 + GRAIN_MSGS div GRAIN_N; the collector tells the driver when it has
%%   GRAIN_N notices. Phase A sends one message to each name (each spawns its
%%   grain) and ends when the collector has GRAIN_N notices:
%%   activations_per_sec = GRAIN_N / phase A seconds. Phase B sends GRAIN_MSGS
%%   messages round robin (message I to name I rem GRAIN_N) and ends likewise:
%%   msgs_per_sec = GRAIN_MSGS / phase B seconds.
%% - grain_ask: the driver makes GRAIN_ASK_N sequential request/replies, round
%%   robin over the names (looked up in the map, spawned on a miss): it sends
%%   {ask, self(), Ref} with a fresh reference and waits in a selective
%%   receive on the reference (what gen_server:call does, without its
%%   monitor); the grain counts the ask as a message and answers its count,
%%   which is checked (ask I gets I div GRAIN_N + 1).
-module(akt_peer_bench).
-export([main/1]).
%% The grain code is shared with akt_remote_bench (its grain host).
-export([grain_names/1, grain_target/2, grain_loop/3, grain_collector/2]).

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
            "routing" -> routing(), 0;
            "timers" -> timers(), 0;
            "grain_tell" -> grain_tell();
            "grain_ask" -> grain_ask();
            _ ->
                info("unknown workload '~s'; one of: pingpong fanin ask_async "
                     "ask_blocking spawn routing timers grain_tell grain_ask", [Workload]),
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

%% -- routing ------------------------------------------------------------------

routing() ->
    N = env_int("ROUTING_N", 10000000),
    R = env_int("ROUTEES", 8),
    Main = self(),
    Workers = list_to_tuple([spawn(fun() -> routee_loop(Main, 0) end)
                             || _ <- lists:seq(1, R)]),
    Router = spawn(fun() -> router_loop(Workers, R, 1) end),
    Driver = spawn(fun() -> receive go -> drive_loop(Router, N, R) end end),
    T0 = now_ns(),
    Driver ! go,
    Processed = collect_counts(R, 0),
    T1 = now_ns(),
    exit(Router, kill),
    [exit(W, kill) || W <- tuple_to_list(Workers)],
    case Processed of
        N ->
            report("routing", "msgs_per_sec", N / ((T1 - T0) / 1.0e9), "msg/s"),
            report("routing", "peak_rss_mb", peak_rss_bytes() / 1048576, "MB");
        _ ->
            info("routing: routees processed ~b of ~b", [Processed, N])
    end.

router_loop(Workers, R, I) ->
    receive
        Msg ->
            element(I, Workers) ! Msg,
            router_loop(Workers, R, if I =:= R -> 1; true -> I + 1 end)
    end.

routee_loop(Main, Count) ->
    receive
        'end' -> Main ! {count, Count}, routee_loop(Main, Count);
        _ -> routee_loop(Main, Count + 1)
    end.

drive_loop(Router, 0, R) ->
    [Router ! 'end' || _ <- lists:seq(1, R)],
    ok;
drive_loop(Router, Left, R) ->
    K = min(?FANIN_CHUNK, Left),
    send_chunk(Router, K),
    self() ! go,
    receive go -> drive_loop(Router, Left - K, R) end.

collect_counts(0, Sum) -> Sum;
collect_counts(K, Sum) ->
    receive {count, C} -> collect_counts(K - 1, Sum + C) end.

%% -- timers -------------------------------------------------------------------

timers() ->
    N = env_int("TIMER_ACTORS", 100000),
    IntervalMs = env_int("TIMER_INTERVAL_MS", 100),
    Seconds = env_int("TIMER_SECONDS", 5),
    %% This process spawns, waits and measures: at high priority it is not
    %% starved by the ticking processes (C++'s main thread is likewise outside
    %% the actor scheduler). The processes it spawns get normal priority.
    process_flag(priority, high),
    Fires = counters:new(1, [write_concurrency]),
    Armed = counters:new(1, [write_concurrency]),
    %% The grid in microseconds, so the spread of first ticks is exact enough.
    IntervalUs = IntervalMs * 1000,
    Pids = [spawn(fun() -> timer_start(Fires, Armed, IntervalUs,
                                       IntervalUs + IntervalUs * I div N) end)
            || I <- lists:seq(0, N - 1)],
    wait_counter(Armed, N),
    receive after 2 * IntervalMs -> ok end,
    T0 = now_ns(),
    F0 = counters:get(Fires, 1),
    Cpu0 = cpu_seconds(),
    {Rt0, _} = erlang:statistics(runtime),
    receive after Seconds * 1000 -> ok end,
    T1 = now_ns(),
    F1 = counters:get(Fires, 1),
    Cpu1 = cpu_seconds(),
    {Rt1, _} = erlang:statistics(runtime),
    Wall = (T1 - T0) / 1.0e9,
    Fired = F1 - F0,
    Ideal = N * Wall * 1000 / IntervalMs,
    report("timers", "timer_fires_per_sec", Fired / Wall, "fires/s"),
    report("timers", "fire_accuracy", Fired / Ideal, "x"),
    report("timers", "cpu_percent", (Cpu1 - Cpu0) / Wall * 100, "%"),
    report("timers", "peak_rss_mb", peak_rss_bytes() / 1048576, "MB"),
    info("timers: erlang:statistics(runtime) (user time only) over the window: ~.1f %",
         [(Rt1 - Rt0) / 10 / Wall]),
    [exit(P, kill) || P <- Pids],
    ok.

timer_start(Fires, Armed, IntervalUs, FirstUs) ->
    Next = erlang:monotonic_time(microsecond) + FirstUs,
    arm(Next),
    counters:add(Armed, 1, 1),
    timer_loop(Fires, IntervalUs, Next).

timer_loop(Fires, IntervalUs, Next) ->
    receive
        tick ->
            counters:add(Fires, 1, 1),
            Next1 = next_tick(Next + IntervalUs, erlang:monotonic_time(microsecond),
                              IntervalUs),
            arm(Next1),
            timer_loop(Fires, IntervalUs, Next1)
    end.

%% The first grid point after Now (those already passed are skipped).
next_tick(Next, Now, IntervalUs) when Next =< Now -> next_tick(Next + IntervalUs, Now, IntervalUs);
next_tick(Next, _Now, _IntervalUs) -> Next.

%% send_after's absolute time is in milliseconds of erlang:monotonic_time.
arm(NextUs) ->
    erlang:send_after(ceil_div(NextUs, 1000), self(), tick, [{abs, true}]).

ceil_div(A, B) -> -((-A) div B).

%% utime + stime of this OS process (all threads), in seconds. Linux reports
%% them in clock ticks of USER_HZ, which is 100 on every Linux architecture
%% this runs on.
cpu_seconds() ->
    Stat = proc_file("stat"),
    %% The command name (field 2) is in parentheses and may hold spaces.
    AfterComm = lists:nthtail(string:rchr(Stat, $)) + 1, Stat),
    Fields = string:lexemes(AfterComm, " "),
    %% Fields now start at field 3 (state); utime and stime are fields 14, 15.
    Utime = list_to_integer(lists:nth(12, Fields)),
    Stime = list_to_integer(lists:nth(13, Fields)),
    (Utime + Stime) / 100.

%% -- grains -------------------------------------------------------------------

%% How long one phase (or one ask) may wait before the run counts as failed.
-define(GRAIN_STEP_TIMEOUT_MS, 120000).

grain_tell() ->
    N = env_int("GRAIN_N", 10000),
    Msgs = env_int("GRAIN_MSGS", 1000000),
    Target = grain_target(N, Msgs),
    Names = grain_names(N),
    Main = self(),
    Collector = spawn(fun() -> grain_collector(N, {report, Main}) end),
    Spawn = fun() -> spawn(?MODULE, grain_loop, [0, Collector, Target]) end,
    T0 = now_ns(),
    Tab1 = grain_send(Names, N, 0, N, #{}, Spawn),
    ResA = grain_wait_phase(),
    T1 = now_ns(),
    {ResB, Tab2} =
        case ResA of
            ok ->
                Tab = grain_send(Names, N, 0, Msgs, Tab1, Spawn),
                {grain_wait_phase(), Tab};
            _ ->
                {failed, Tab1}
        end,
    T2 = now_ns(),
    [exit(P, kill) || P <- maps:values(Tab2)],
    exit(Collector, kill),
    case {ResA, ResB, map_size(Tab2)} of
        {ok, ok, N} ->
            report("grain_tell", "activations_per_sec", N / ((T1 - T0) / 1.0e9), "act/s"),
            report("grain_tell", "msgs_per_sec", Msgs / ((T2 - T1) / 1.0e9), "msg/s"),
            0;
        {ok, ok, G} ->
            info("grain_tell: ~b grains for ~b names", [G, N]),
            1;
        _ ->
            info("grain_tell: a phase did not complete in ~b ms", [?GRAIN_STEP_TIMEOUT_MS]),
            1
    end.

%% Sends messages From .. To - 1, message I to name I rem N, looking each name
%% up in Tab (spawning on a miss); returns the table.
grain_send(_Names, _N, To, To, Tab, _Spawn) -> Tab;
grain_send(Names, N, I, To, Tab, Spawn) ->
    Name = element(I rem N + 1, Names),
    case Tab of
        #{Name := Pid} ->
            Pid ! I,
            grain_send(Names, N, I + 1, To, Tab, Spawn);
        _ ->
            Pid = Spawn(),
            Pid ! I,
            grain_send(Names, N, I + 1, To, Tab#{Name => Pid}, Spawn)
    end.

grain_wait_phase() ->
    receive
        grains_done -> ok
    after ?GRAIN_STEP_TIMEOUT_MS -> failed
    end.

grain_ask() ->
    N = env_int("GRAIN_N", 10000),
    Asks = env_int("GRAIN_ASK_N", 200000),
    Names = grain_names(N),
    Spawn = fun() -> spawn(?MODULE, grain_loop, [0, none, 0]) end,
    T0 = now_ns(),
    {Res, Tab} = grain_ask_loop(Names, N, 0, Asks, #{}, Spawn),
    T1 = now_ns(),
    [exit(P, kill) || P <- maps:values(Tab)],
    case Res of
        ok ->
            report("grain_ask", "asks_per_sec", Asks / ((T1 - T0) / 1.0e9), "asks/s"),
            0;
        _ ->
            info("grain_ask failed: ~p", [Res]),
            1
    end.

grain_ask_loop(_Names, _N, To, To, Tab, _Spawn) -> {ok, Tab};
grain_ask_loop(Names, N, I, To, Tab, Spawn) ->
    Name = element(I rem N + 1, Names),
    {Pid, Tab1} = case Tab of
                      #{Name := P} -> {P, Tab};
                      _ -> P = Spawn(), {P, Tab#{Name => P}}
                  end,
    Ref = make_ref(),
    Pid ! {ask, self(), Ref},
    Expected = I div N + 1,
    receive
        {Ref, Expected} -> grain_ask_loop(Names, N, I + 1, To, Tab1, Spawn);
        {Ref, Other} -> {{wrong_count, I, Other}, Tab1}
    after ?GRAIN_STEP_TIMEOUT_MS -> {{no_answer, I}, Tab1}
    end.

%% The names, as a tuple of binaries (element(I + 1, Names) is "g-I").
grain_names(N) ->
    list_to_tuple([<<"g-", (integer_to_binary(I))/binary>> || I <- lists:seq(0, N - 1)]).

%% Phase B's notice threshold: 1 + GRAIN_MSGS div GRAIN_N (exact when GRAIN_N
%% divides GRAIN_MSGS, as with the defaults).
grain_target(N, Msgs) ->
    case Msgs rem N of
        0 -> ok;
        _ -> info("GRAIN_MSGS=~b is not a multiple of GRAIN_N=~b: phase B ends when every "
                  "grain has 1 + ~b messages", [Msgs, N, Msgs div N])
    end,
    1 + Msgs div N.

%% A grain: counts its messages (an ask counts as one); sends a notice to the
%% collector (if any) when the count reaches 1 and when it reaches Target.
grain_loop(Count, Collector, Target) ->
    receive
        {ask, From, Ref} ->
            C = Count + 1,
            From ! {Ref, C},
            grain_loop(C, Collector, Target);
        stop ->
            ok;
        _Msg ->
            C = Count + 1,
            case C =:= 1 orelse C =:= Target of
                true when Collector =/= none -> Collector ! grain_notice;
                _ -> ok
            end,
            grain_loop(C, Collector, Target)
    end.

%% The collector: counts notices; when it has N, the phase is complete. Mode
%% {report, Pid}: it sends grains_done to Pid (the local driver). Mode wait:
%% it answers a {wait, From, Ref} request (from the remote driver, through the
%% grain host) with {Ref, N} once it has N notices. Either way it then counts
%% the next phase from 0.
grain_collector(N, Mode) -> grain_collector(N, Mode, 0, none).

grain_collector(N, Mode, Count, Waiter) ->
    receive
        grain_notice ->
            C = Count + 1,
            case {C >= N, Mode, Waiter} of
                {true, {report, Pid}, _} ->
                    Pid ! grains_done,
                    grain_collector(N, Mode, 0, none);
                {true, wait, {From, Ref}} ->
                    From ! {Ref, N},
                    grain_collector(N, Mode, 0, none);
                _ ->
                    grain_collector(N, Mode, C, Waiter)
            end;
        {wait, From, Ref} when Count >= N ->
            From ! {Ref, N},
            grain_collector(N, Mode, 0, none);
        {wait, From, Ref} ->
            grain_collector(N, Mode, Count, {From, Ref});
        stop ->
            ok
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
