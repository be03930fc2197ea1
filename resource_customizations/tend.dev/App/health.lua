-- Argo CD health of a tend.dev App, from the conditions its controller writes.
-- Base and table libraries only: Argo CD runs argocd-cm overrides without string, math or os.
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the App controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local ready = conditions["Ready"]
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the App controller to report Ready"
  return hs
end

-- Ready False for these needs someone to act: a spec, a quota, a capacity or a node to fix.
local degraded = {
  ProgressDeadlineExceeded = true, RolledBack = true, CrashLoopBackOff = true,
  QuotaExceeded = true, InvalidResources = true, Unschedulable = true, SizeExceeded = true,
  VolumesOnDifferentNodes = true, VolumeSingleWriter = true, VolumeNodeLost = true, VolumeInUse = true, VolumeDeleting = true,
  SecretNotFound = true, NoTenant = true,
  RuntimeUnavailable = true, InvalidCommand = true, InvalidSpec = true, RuntimeError = true, SecretUnavailable = true,
}
-- Ready False for these passes by itself: instances starting, a volume on its way, a first report.
-- (VolumeDeleting does not: the Volume's deletion waits for this App to stop listing it.)
local progressing = { NotEnoughReady = true, VolumeNotFound = true, NotYetReported = true }

-- A rollout that failed (past its deadline, or rolled back) is Degraded, whatever else Ready names
-- first: instances still starting would otherwise make it look like progress.
local progress = conditions["Progressing"]
if progress ~= nil and progress.status == "False" and degraded[progress.reason] then
  hs.status = "Degraded"
  hs.message = progress.message
  return hs
end
if ready.status ~= "True" then
  hs.message = ready.message
  if ready.reason == "TenantSuspended" then
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
-- Ready holds while enough instances serve; a scale-up or rollout still running is progress.
if progress ~= nil and progress.status == "True" and progress.reason ~= "RolloutComplete" then
  hs.status = "Progressing"
  hs.message = progress.message
  return hs
end
hs.status = "Healthy"
if conditions["Available"] ~= nil then
  hs.message = conditions["Available"].message
else
  hs.message = ready.message
end
return hs
