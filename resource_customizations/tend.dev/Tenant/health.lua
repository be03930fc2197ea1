-- Argo CD health of a tend.dev Tenant, from the conditions its controller writes.
-- Base and table libraries only: Argo CD runs argocd-cm overrides without string, math or os.
local hs = {}
local generation = obj.metadata.generation
local status = obj.status
if status == nil or status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the Tenant controller to observe generation " .. tostring(generation)
  return hs
end
local conditions = {}
for _, c in ipairs(status.conditions or {}) do
  conditions[c.type] = c
end
local ready = conditions["Ready"]
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Tenant controller to report Ready"
  return hs
end

-- Ready False for these needs someone to act: a namespace another tenant owns, usage over quota.
local degraded = { NamespaceConflict = true, QuotaExceeded = true, CPUQuotaExceeded = true }
-- Ready False for these passes by itself: the first report, a deletion waiting for what it owns.
local progressing = { NotYetReported = true, DeletionBlocked = true }

if ready.status ~= "True" then
  hs.message = ready.message
  if ready.reason == "Suspended" then
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
-- HostnamesExclusive=False HostnamesOverlap is reported beside Ready: the tenant works, so Healthy.
hs.status = "Healthy"
if conditions["NamespacesClaimed"] ~= nil then
  hs.message = conditions["NamespacesClaimed"].message
else
  hs.message = ready.message
end
return hs
