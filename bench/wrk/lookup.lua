-- wrk script of `python -m bench http`: each request looks up random subjects by key.
--
--   BENCH_WRK_OUT=OUT_FILE wrk ... -s bench/wrk/lookup.lua -- IDS_FILE REQUEST_FILE PREFIX
--
-- IDS_FILE: one key per line, drawn at random (a line may add, after a tab, the dossier that
-- concerns the key: a header value's {DOSSIER} becomes it). REQUEST_FILE: line 1 the method, line 2 the path,
-- line 3 the body (may be empty), line 4 the text every good answer contains, line 5 how many
-- keys one request carries, then one "Name: value" header per line. In the path, {ID} is one
-- key; in the body, {IDS} is that many keys as JSON strings separated by commas.
-- A request gets X-Request-Id "<prefix>-<thread>-<n>"; a good answer (2xx, the expected text,
-- no "errors") counts as ok and, when the server echoes X-Request-Id, its id is kept. OUT_FILE
-- (an environment variable: `done` runs in wrk's main state, which never sees the arguments) gets a JSON summary on its first line, then the ids of the good answers, one per line: the
-- harness checks that each has its access-log row.

local threads = {}
local counter = 0

local function lines(path)
  local found = {}
  for line in io.lines(path) do
    found[#found + 1] = line
  end
  return found
end

function setup(thread)
  thread:set("number", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  ids = lines(args[1])
  local spec = lines(args[2])
  method, path, body, expect = spec[1], spec[2], spec[3], spec[4]
  per_request = tonumber(spec[5])
  headers = {}
  for i = 6, #spec do
    local name, value = spec[i]:match("^([^:]+):%s*(.*)$")
    headers[name] = value
  end
  prefix = args[3]
  math.randomseed(os.time() * 100 + number)
  ok, bad, answered = 0, 0, {}
end

-- A line is a key, optionally followed by a tab and the dossier that concerns it.
local function draw()
  local line = ids[math.random(#ids)]
  local key, dossier = line:match("^([^\t]*)\t(.*)$")
  if key then
    return key, dossier
  end
  return line, nil
end

function request()
  counter = counter + 1
  local sent = {}
  local keys = {}
  local dossier = nil
  for i = 1, per_request do
    local key, its = draw()
    keys[i] = '"' .. key .. '"'
    dossier = dossier or its
  end
  for name, value in pairs(headers) do
    -- {DOSSIER} in a header is the dossier of the request's (first) key
    sent[name] = dossier and value:gsub("{DOSSIER}", dossier) or value
  end
  sent["X-Request-Id"] = string.format("%s-%d-%d", prefix, number, counter)
  local this_path = path:gsub("{ID}", function() return (draw()) end)
  local this_body = body:gsub("{IDS}", function() return table.concat(keys, ",") end)
  return wrk.format(method, this_path, sent, this_body ~= "" and this_body or nil)
end

function response(status, response_headers, response_body)
  if status >= 200 and status < 300 and response_body:find(expect, 1, true)
      and not response_body:find('"errors"', 1, true) then
    ok = ok + 1
    local id = response_headers["X-Request-Id"] or response_headers["x-request-id"]
    if id then
      answered[#answered + 1] = id
    end
  else
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local out = assert(io.open(os.getenv("BENCH_WRK_OUT"), "w"))
  local total_ok, total_bad = 0, 0
  local kept = {}
  for _, thread in ipairs(threads) do
    total_ok = total_ok + thread:get("ok")
    total_bad = total_bad + thread:get("bad")
    for _, id in ipairs(thread:get("answered")) do
      kept[#kept + 1] = id
    end
  end
  local errors = summary.errors
  out:write(string.format(
    '{"requests": %d, "duration_us": %d, "ok": %d, "bad": %d, "connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, '
      .. '"max_us": %d}\n',
    summary.requests, summary.duration, total_ok, total_bad, errors.connect, errors.read,
    errors.write, errors.status, errors.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  for _, id in ipairs(kept) do
    out:write(id, "\n")
  end
  out:close()
end
