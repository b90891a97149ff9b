/* SPDX-License-Identifier: MIT */
/* poplar-bench: command line, then one scenario. */
#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static void usage(FILE *f)
{
  fputs(
      "usage: poplar-bench --scenario NAME --port PORT [options]\n"
      "scenarios:\n"
      "  rate       C clients run connect, USER, PASS, STAT, QUIT back to back\n"
      "  handshake  connect, [TLS handshake], greeting, close (bare ceiling)\n"
      "  list       login, STAT, UIDL, LIST, QUIT; --repeat sessions in a row\n"
      "  retr       login, RETR every message (--pipeline in flight)\n"
      "  hold       --count sessions logged in and held, server memory read,\n"
      "             then each served (STAT) and closed (QUIT)\n"
      "target:\n"
      "  --host HOST (127.0.0.1)  --port PORT  --tls  --resume\n"
      "  --priority GNUTLS-PRIORITY (NORMAL)  --ca-file PEM (verify)\n"
      "users (one per client slot, in turn):\n"
      "  --users FILE (user:password lines)  or\n"
      "  --user-prefix P --user-count N [--user-start S] --password PW\n"
      "  --user NAME --password PW  (one account for every slot)\n"
      "load:\n"
      "  --threads N (2)  --concurrency C (16)  --duration S (5)\n"
      "  --warmup S (0)  --sessions N (rate: stop after N, not after S)\n"
      "  --repeat N (5)  --count K (1000)  --hold S (1)  --pipeline W (8)\n"
      "  --timeout S (30: a session slower than this is an error)\n"
      "server memory (hold):\n"
      "  --server-pid PID (and descendants)  --server-name COMM  (repeatable)\n"
      "output:\n"
      "  --json FILE (append one JSON object per result; - for stdout)\n"
      "  --label TEXT  --quiet (no human-readable lines)\n",
      f);
}

static bool parse_uint(const char *s, unsigned long long max,
                       unsigned long long *out)
{
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v > max || s[0] == '-')
    return false;
  *out = v;
  return true;
}

static bool parse_seconds(const char *s, double *out)
{
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v >= 0) || v > 86400)
    return false;
  *out = v;
  return true;
}

static bool resolve(BenchOptions *opt)
{
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *ai = NULL;
  int r = getaddrinfo(opt->host, opt->port, &hints, &ai);
  if (r != 0) {
    fprintf(stderr, "poplar-bench: %s:%s: %s\n", opt->host, opt->port,
            gai_strerror(r));
    return false;
  }
  memcpy(&opt->addr, ai->ai_addr, ai->ai_addrlen);
  opt->addr_len = ai->ai_addrlen;
  freeaddrinfo(ai);
  return true;
}

static void raise_fd_limit(void)
{
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

enum {
  OPT_HOST = 256, OPT_PORT, OPT_USERS, OPT_USER_PREFIX, OPT_USER_COUNT,
  OPT_USER_START, OPT_PASSWORD, OPT_THREADS, OPT_CONCURRENCY, OPT_DURATION,
  OPT_WARMUP, OPT_SESSIONS, OPT_REPEAT, OPT_COUNT, OPT_HOLD, OPT_PIPELINE,
  OPT_TIMEOUT, OPT_TLS, OPT_RESUME, OPT_PRIORITY, OPT_CA_FILE, OPT_JSON,
  OPT_SERVER_PID, OPT_SERVER_NAME, OPT_LABEL, OPT_QUIET, OPT_SCENARIO,
  OPT_HELP, OPT_USER,
};

static const struct option long_options[] = {
    {"scenario", required_argument, NULL, OPT_SCENARIO},
    {"host", required_argument, NULL, OPT_HOST},
    {"port", required_argument, NULL, OPT_PORT},
    {"users", required_argument, NULL, OPT_USERS},
    {"user-prefix", required_argument, NULL, OPT_USER_PREFIX},
    {"user", required_argument, NULL, OPT_USER},
    {"user-count", required_argument, NULL, OPT_USER_COUNT},
    {"user-start", required_argument, NULL, OPT_USER_START},
    {"password", required_argument, NULL, OPT_PASSWORD},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"concurrency", required_argument, NULL, OPT_CONCURRENCY},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"sessions", required_argument, NULL, OPT_SESSIONS},
    {"repeat", required_argument, NULL, OPT_REPEAT},
    {"count", required_argument, NULL, OPT_COUNT},
    {"hold", required_argument, NULL, OPT_HOLD},
    {"pipeline", required_argument, NULL, OPT_PIPELINE},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"tls", no_argument, NULL, OPT_TLS},
    {"resume", no_argument, NULL, OPT_RESUME},
    {"priority", required_argument, NULL, OPT_PRIORITY},
    {"ca-file", required_argument, NULL, OPT_CA_FILE},
    {"json", required_argument, NULL, OPT_JSON},
    {"server-pid", required_argument, NULL, OPT_SERVER_PID},
    {"server-name", required_argument, NULL, OPT_SERVER_NAME},
    {"label", required_argument, NULL, OPT_LABEL},
    {"quiet", no_argument, NULL, OPT_QUIET},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static const struct {
  const char *name;
  BenchScenarioKind kind;
} scenarios[] = {
    {"rate", BENCH_RATE}, {"handshake", BENCH_HANDSHAKE},
    {"list", BENCH_LIST}, {"retr", BENCH_RETR}, {"hold", BENCH_HOLD},
};

static bool bad(const char *what, const char *value)
{
  fprintf(stderr, "poplar-bench: bad %s '%s' (--help for usage)\n", what,
          value);
  return false;
}

static bool parse_args(int argc, char **argv, BenchOptions *opt)
{
  const char *users_file = NULL, *prefix = NULL, *password = NULL;
  unsigned long long user_count = 0, user_start = 0, v;
  opt->host = "127.0.0.1";
  opt->threads = 2;
  opt->concurrency = 16;
  opt->duration_s = 5;
  opt->repeat = 5;
  opt->count = 1000;
  opt->hold_s = 1;
  opt->pipeline = 8;
  opt->timeout_s = 30;
  opt->priority = "NORMAL";
  int ch;
  while ((ch = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
    switch (ch) {
    case OPT_SCENARIO:
      opt->scenario_name = NULL;
      for (size_t i = 0; i < sizeof scenarios / sizeof *scenarios; i++)
        if (strcmp(optarg, scenarios[i].name) == 0) {
          opt->scenario = scenarios[i].kind;
          opt->scenario_name = scenarios[i].name;
        }
      if (!opt->scenario_name)
        return bad("scenario", optarg);
      break;
    case OPT_HOST: opt->host = optarg; break;
    case OPT_PORT: opt->port = optarg; break;
    case OPT_USERS: users_file = optarg; break;
    case OPT_USER_PREFIX: prefix = optarg; break;
    case OPT_USER: opt->single_user = optarg; break;
    case OPT_PASSWORD: password = optarg; break;
    case OPT_USER_COUNT:
      if (!parse_uint(optarg, 10000000, &user_count))
        return bad("--user-count", optarg);
      break;
    case OPT_USER_START:
      if (!parse_uint(optarg, 1000000000, &user_start))
        return bad("--user-start", optarg);
      break;
    case OPT_THREADS:
      if (!parse_uint(optarg, 256, &v) || v == 0)
        return bad("--threads", optarg);
      opt->threads = (unsigned)v;
      break;
    case OPT_CONCURRENCY:
      if (!parse_uint(optarg, 1000000, &v) || v == 0)
        return bad("--concurrency", optarg);
      opt->concurrency = (unsigned)v;
      break;
    case OPT_SESSIONS:
      if (!parse_uint(optarg, UINT64_MAX, &v))
        return bad("--sessions", optarg);
      opt->sessions = v;
      break;
    case OPT_REPEAT:
      if (!parse_uint(optarg, 1000000, &v) || v == 0)
        return bad("--repeat", optarg);
      opt->repeat = (unsigned)v;
      break;
    case OPT_COUNT:
      if (!parse_uint(optarg, 1000000, &v) || v == 0)
        return bad("--count", optarg);
      opt->count = (unsigned)v;
      break;
    case OPT_PIPELINE:
      if (!parse_uint(optarg, BENCH_PENDING_MAX - 1, &v) || v == 0)
        return bad("--pipeline (1..63)", optarg);
      opt->pipeline = (unsigned)v;
      break;
    case OPT_DURATION:
      if (!parse_seconds(optarg, &opt->duration_s) || opt->duration_s <= 0)
        return bad("--duration", optarg);
      break;
    case OPT_WARMUP:
      if (!parse_seconds(optarg, &opt->warmup_s))
        return bad("--warmup", optarg);
      break;
    case OPT_HOLD:
      if (!parse_seconds(optarg, &opt->hold_s))
        return bad("--hold", optarg);
      break;
    case OPT_TIMEOUT:
      if (!parse_seconds(optarg, &opt->timeout_s) || opt->timeout_s <= 0)
        return bad("--timeout", optarg);
      break;
    case OPT_TLS: opt->tls = true; break;
    case OPT_RESUME: opt->resume = true; break;
    case OPT_PRIORITY: opt->priority = optarg; break;
    case OPT_CA_FILE: opt->ca_file = optarg; break;
    case OPT_JSON: opt->json_path = optarg; break;
    case OPT_LABEL: opt->label = optarg; break;
    case OPT_QUIET: opt->quiet = true; break;
    case OPT_SERVER_PID:
      if (!parse_uint(optarg, 4194304, &v) || v == 0)
        return bad("--server-pid", optarg);
      opt->server_pids = realloc(opt->server_pids,
                                 (opt->n_server_pids + 1) * sizeof(pid_t));
      if (!opt->server_pids)
        abort();
      opt->server_pids[opt->n_server_pids++] = (pid_t)v;
      break;
    case OPT_SERVER_NAME:
      opt->server_comms = realloc(opt->server_comms,
                                  (opt->n_server_comms + 1) * sizeof(char *));
      if (!opt->server_comms)
        abort();
      opt->server_comms[opt->n_server_comms++] = optarg;
      break;
    case OPT_HELP:
    case 'h':
      usage(stdout);
      exit(0);
    default:
      usage(stderr);
      return false;
    }
  }
  if (optind < argc)
    return bad("argument", argv[optind]);
  if (!opt->scenario_name || !opt->port) {
    fprintf(stderr, "poplar-bench: --scenario and --port are required\n");
    return false;
  }
  if (opt->resume && !opt->tls) {
    fprintf(stderr, "poplar-bench: --resume needs --tls\n");
    return false;
  }
  char *err = NULL;
  if (users_file) {
    if (!bench_users_load(&opt->users, users_file, &err))
      goto user_error;
  } else if (opt->single_user) {
    if (!password) {
      fprintf(stderr, "poplar-bench: --user needs --password\n");
      return false;
    }
    if (!bench_users_make(&opt->users, opt->single_user, 0, 1, password, &err))
      goto user_error;
    opt->users.list[0].name[strlen(opt->single_user)] = '\0';
  } else if (prefix || password) {
    if (!prefix || !password) {
      fprintf(stderr, "poplar-bench: --user-prefix needs --password\n");
      return false;
    }
    if (!bench_users_make(&opt->users, prefix, user_start,
                          user_count ? user_count : 1, password, &err))
      goto user_error;
  } else if (opt->scenario != BENCH_HANDSHAKE) {
    fprintf(stderr, "poplar-bench: give --users or --user-prefix\n");
    return false;
  } else if (!bench_users_make(&opt->users, "-", 0, 1, "-", &err)) {
    goto user_error;
  }
  return resolve(opt);
user_error:
  fprintf(stderr, "poplar-bench: %s\n", err);
  free(err);
  return false;
}

int main(int argc, char **argv)
{
  BenchOptions opt = {0};
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit();
  if (!parse_args(argc, argv, &opt))
    return 2;
  int rc = 2;
  switch (opt.scenario) {
  case BENCH_RATE:
  case BENCH_HANDSHAKE:
    rc = bench_scenario_rate(&opt);
    break;
  case BENCH_LIST:
    rc = bench_scenario_list(&opt);
    break;
  case BENCH_RETR:
    rc = bench_scenario_retr(&opt);
    break;
  case BENCH_HOLD:
    rc = bench_scenario_hold(&opt);
    break;
  }
  bench_users_free(&opt.users);
  free(opt.server_pids);
  free(opt.server_comms);
  return rc;
}
