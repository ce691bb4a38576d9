// tscni's native addon: the three system calls Node lacks, and nothing else. Everything built on them (netlink
// messages, sysctl values, lock timeouts) lives in TypeScript.
//   netlinkSocket(netnsPath | null, protocol) -> fd   a netlink socket created inside a network namespace
//   openInNetns(netnsPath | null, path, flags) -> fd  a file opened inside one (/proc/sys/net follows the opener)
//   flock(fd, operation) -> undefined                 flock(2) with LOCK_* bits; never blocks when LOCK_NB is set
// Failures throw an Error whose `code` is the errno name ("EWOULDBLOCK", ...) and `errno` the negative number,
// as Node's own fs errors do, so callers classify them structurally.
// Namespace switching uses setns(2) on the calling thread only (Node's main thread runs no other JS meanwhile) and
// always switches back before returning, also on failure; a failure to switch back aborts the process, since
// staying in the wrong namespace would apply every later change to the wrong place.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>

#define PATH_MAX_LEN 4096

// Throws Error(message) with code = errno name and errno = -errnum; returns NULL for the caller to return.
static napi_value throw_errno(napi_env env, int errnum, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errnum));
  napi_value message, error, code, num;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, NULL, message, &error);
  const char *name = strerrorname_np(errnum);
  napi_create_string_utf8(env, name ? name : "EUNKNOWN", NAPI_AUTO_LENGTH, &code);
  napi_set_named_property(env, error, "code", code);
  napi_create_int32(env, -errnum, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

// Reads a path argument into buf (PATH_MAX_LEN bytes); *present is 0 for null or undefined. Returns 0 on success,
// -1 for a value that is not a string, or an errno: ENAMETOOLONG (as open(2) would say), EINVAL (an embedded NUL).
// The length is asked for first: napi_get_value_string_utf8 never writes a partial UTF-8 sequence, so a string
// longer than the buffer would come back shorter, and a valid other path. A path the kernel cannot take whole
// (PATH_MAX, NUL included) is refused, as is one with an embedded NUL, which open(2) would cut short.
static int get_path(napi_env env, napi_value value, char *buf, int *present) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type == napi_null || type == napi_undefined) {
    *present = 0;
    return 0;
  }
  size_t len = 0, copied = 0;
  if (type != napi_string || napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) return -1;
  if (len == 0) return -1;
  if (len >= PATH_MAX_LEN) return ENAMETOOLONG;
  if (napi_get_value_string_utf8(env, value, buf, PATH_MAX_LEN, &copied) != napi_ok || copied != len) return ENAMETOOLONG;
  if (strlen(buf) != len) return EINVAL;
  *present = 1;
  return 0;
}

static int get_int(napi_env env, napi_value value, int32_t *out) {
  napi_valuetype type;
  napi_typeof(env, value, &type);
  if (type != napi_number) return -1;
  return napi_get_value_int32(env, value, out) == napi_ok ? 0 : -1;
}

// Enters the namespace at `path`, keeping a descriptor of the current one in *saved. Returns 0 or an errno.
static int enter_netns(const char *path, int *saved) {
  *saved = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (*saved < 0) return errno;
  int target = open(path, O_RDONLY | O_CLOEXEC);
  if (target < 0) {
    int e = errno;
    close(*saved);
    return e;
  }
  int rc = setns(target, CLONE_NEWNET);
  int e = errno;
  close(target);
  if (rc != 0) {
    close(*saved);
    return e;
  }
  return 0;
}

static void leave_netns(int saved) {
  if (setns(saved, CLONE_NEWNET) != 0) {
    fprintf(stderr, "tscni: cannot return to the original network namespace: %s\n", strerror(errno));
    abort();
  }
  close(saved);
}

static napi_value netlink_socket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char path[PATH_MAX_LEN];
  int present = 0;
  int32_t protocol = 0;
  int bad = argc < 2 ? -1 : get_path(env, argv[0], path, &present);
  if (bad < 0 || get_int(env, argv[1], &protocol) != 0) {
    return throw_type(env, "netlinkSocket(netnsPath: string | null, protocol: number)");
  }
  if (bad > 0) return throw_errno(env, bad, "netns path");
  int saved = -1;
  if (present) {
    int e = enter_netns(path, &saved);
    if (e) return throw_errno(env, e, path);
  }
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  int e = errno;
  if (present) leave_netns(saved);
  if (fd < 0) return throw_errno(env, e, "socket(AF_NETLINK)");
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value open_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char ns[PATH_MAX_LEN], path[PATH_MAX_LEN];
  int ns_present = 0, path_present = 0;
  int32_t flags = 0;
  int bad_ns = argc < 3 ? -1 : get_path(env, argv[0], ns, &ns_present);
  int bad_path = argc < 3 ? -1 : get_path(env, argv[1], path, &path_present);
  if (bad_ns < 0 || bad_path < 0 || !(path_present || bad_path > 0) || get_int(env, argv[2], &flags) != 0) {
    return throw_type(env, "openInNetns(netnsPath: string | null, path: string, flags: number)");
  }
  if (bad_ns > 0) return throw_errno(env, bad_ns, "netns path");
  if (bad_path > 0) return throw_errno(env, bad_path, "path");
  int saved = -1;
  if (ns_present) {
    int e = enter_netns(ns, &saved);
    if (e) return throw_errno(env, e, ns);
  }
  // Never creates files (no mode argument): only existing sysctl and proc files are meant.
  int fd = open(path, (flags & ~O_CREAT) | O_CLOEXEC);
  int e = errno;
  if (ns_present) leave_netns(saved);
  if (fd < 0) return throw_errno(env, e, path);
  napi_value result;
  napi_create_int32(env, fd, &result);
  return result;
}

static napi_value do_flock(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1, op = 0;
  if (argc < 2 || get_int(env, argv[0], &fd) != 0 || get_int(env, argv[1], &op) != 0) {
    return throw_type(env, "flock(fd: number, operation: number)");
  }
  if (flock(fd, op) != 0) return throw_errno(env, errno, "flock");
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"netlinkSocket", NULL, netlink_socket, NULL, NULL, NULL, napi_enumerable, NULL},
    {"openInNetns", NULL, open_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
    {"flock", NULL, do_flock, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE_INIT() {
  return init(env, exports);
}
