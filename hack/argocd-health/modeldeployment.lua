-- Argo CD health check for modelserve.io/ModelDeployment (reads status written by the operator).
--   Degraded    condition Degraded=True, or phase RolledBack / Degraded
--   Suspended   phase Paused or Frozen, or spec.rollout.paused: true
--   Progressing no status yet, stale observedGeneration, or phase Pending / Progressing
--   Healthy     condition Ready=True
local hs = {}

local function condition(status, type_)
  if status == nil or status.conditions == nil then
    return nil
  end
  for _, c in ipairs(status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function with_default(text, default)
  if text == nil or text == "" then
    return default
  end
  return text
end

local status = obj.status
if status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the modelserve operator to report status"
  return hs
end

local phase = status.phase
local degraded = condition(status, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = with_default(degraded.message, with_default(degraded.reason, "Degraded"))
  return hs
end
if phase == "RolledBack" or phase == "Degraded" then
  hs.status = "Degraded"
  local reason = nil
  if status.rollout ~= nil then
    reason = status.rollout.failedReason
  end
  hs.message = phase .. ": " .. with_default(status.message, with_default(reason, "see kubectl modelserve status"))
  return hs
end

local paused_in_spec = obj.spec ~= nil and obj.spec.rollout ~= nil and obj.spec.rollout.paused == true
if phase == "Paused" or phase == "Frozen" or paused_in_spec then
  hs.status = "Suspended"
  if phase == "Frozen" then
    hs.message = with_default(status.message, "Rollouts frozen: SLA error budget exhausted")
  else
    hs.message = with_default(status.message, "Rollout paused")
  end
  return hs
end

local generation = obj.metadata.generation
if status.observedGeneration == nil or (generation ~= nil and status.observedGeneration < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

if phase == "Progressing" or phase == "Pending" or phase == nil then
  hs.status = "Progressing"
  local weight = ""
  if status.canaryWeight ~= nil then
    weight = " (canary weight " .. tostring(status.canaryWeight) .. "%)"
  end
  hs.message = with_default(status.message, with_default(phase, "Pending")) .. weight
  return hs
end

local ready = condition(status, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = with_default(ready.message, "Ready")
  return hs
end

hs.status = "Progressing"
if ready ~= nil then
  hs.message = with_default(ready.message, with_default(ready.reason, "Waiting for Ready"))
else
  hs.message = "Waiting for condition Ready"
end
return hs
