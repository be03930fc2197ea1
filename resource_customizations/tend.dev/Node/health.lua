-- Argo CD health of a tend.dev Node, from the conditions its controller writes.
-- Base and table libraries only: Argo CD runs argocd-cm overrides without string, math or os.
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Node controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local ready = conditions["Ready"]
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Node controller to report Ready"
  return hs
end

-- Ready False for these needs someone to act: a lost agent, volumes a retired node still holds.
local degraded = { NodeLost = true, DecommissionBlocked = true }
-- Ready False for these passes by itself: an agent about to report, a deletion draining, a first report.
local progressing = { AgentNotReporting = true, DeletionBlocked = true, NotYetReported = true }

if ready.status ~= "True" then
  hs.message = ready.message
  if ready.reason == "Decommissioned" then
    hs.status = "Suspended"
  elseif degraded[ready.reason] then
    hs.status = "Degraded"
  elseif progressing[ready.reason] then
    hs.status = "Progressing"
  else
    -- A reason newer than this script: Progressing, as Argo CD says of what it cannot judge yet.
    hs.status = "Progressing"
    hs.message = tostring(ready.reason) .. ": " .. tostring(ready.message)
  end
  return hs
end
-- Alive, but taking no new instances: on purpose (cordoned), on its way out (draining), or
-- retired with instances still on it.
local schedulable = conditions["Schedulable"]
if schedulable ~= nil and schedulable.status == "False" then
  hs.message = schedulable.message
  if schedulable.reason == "Cordoned" then
    hs.status = "Suspended"
  elseif schedulable.reason == "Draining" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  return hs
end
-- Instances here would run without their sandbox (Isolated=False SandboxUnavailable).
local isolated = conditions["Isolated"]
if isolated ~= nil and isolated.status == "False" then
  hs.status = "Degraded"
  hs.message = isolated.message
  return hs
end
hs.status = "Healthy"
hs.message = ready.message
return hs
