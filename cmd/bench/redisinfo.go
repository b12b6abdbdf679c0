package main

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
)

// redisSample is what Redis says about its own work (INFO cpu and
// commandstats). Redis is shared: other users of the same server show up
// in it too.
type redisSample struct {
	CPU        float64 // used_cpu_user + used_cpu_sys, seconds
	Calls      float64 // commands of every kind
	CommandSec float64 // time spent executing commands, seconds
	ScriptSec  float64 // of which EVAL/EVALSHA (the ACD's and queues' Lua scripts)
}

// redisLoad is the difference of two samples over a wall time.
type redisLoad struct {
	Cores       float64 `json:"redis_cores"`         // Redis CPU ÷ wall time
	Busy        float64 `json:"redis_command_share"` // command execution time ÷ wall time (Redis runs one at a time)
	ScriptShare float64 `json:"redis_script_share"`  // Lua script execution time ÷ wall time
	Calls       float64 `json:"redis_calls"`
}

func (r redisLoad) String() string {
	return fmt.Sprintf("redis %.2f cores, busy %s of the time (scripts %s)", r.Cores, pct(r.Busy), pct(r.ScriptShare))
}

func (e *env) redisSample(ctx context.Context) (redisSample, error) {
	info, err := e.rdb.Info(ctx, "cpu", "commandstats").Result()
	if err != nil {
		return redisSample{}, fmt.Errorf("redis INFO: %w", err)
	}
	return parseRedisInfo(info), nil
}

// parseRedisInfo reads "used_cpu_user:1.5" and
// "cmdstat_evalsha:calls=3,usec=120,..." lines.
func parseRedisInfo(info string) redisSample {
	var s redisSample
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case k == "used_cpu_user" || k == "used_cpu_sys":
			f, _ := strconv.ParseFloat(v, 64)
			s.CPU += f
		case strings.HasPrefix(k, "cmdstat_"):
			var calls, usec float64
			for kv := range strings.SplitSeq(v, ",") {
				name, num, _ := strings.Cut(kv, "=")
				f, _ := strconv.ParseFloat(num, 64)
				switch name {
				case "calls":
					calls = f
				case "usec":
					usec = f
				}
			}
			s.Calls += calls
			s.CommandSec += usec / 1e6
			if k == "cmdstat_eval" || k == "cmdstat_evalsha" {
				s.ScriptSec += usec / 1e6
			}
		}
	}
	return s
}

// load is the work between two samples taken wall seconds apart.
func (s redisSample) load(later redisSample, wall float64) redisLoad {
	if wall <= 0 {
		return redisLoad{}
	}
	return redisLoad{
		Cores:       (later.CPU - s.CPU) / wall,
		Busy:        (later.CommandSec - s.CommandSec) / wall,
		ScriptShare: (later.ScriptSec - s.ScriptSec) / wall,
		Calls:       later.Calls - s.Calls,
	}
}
