// The container registry that azd (or az acr build) pushes the relay's image to, and the
// AcrPull role for the identity the app pulls it with: no registry password anywhere.

@description('Registry name: 5-50 letters and digits, globally unique.')
@minLength(5)
@maxLength(50)
param name string

@description('Azure region of the registry.')
param location string

@description('Tags of the registry.')
param tags object = {}

@description('Principal id of the identity that pulls images (the relay\'s).')
param pullPrincipalId string

// AcrPull: pull images, nothing else.
var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  // checkov:skip=CKV_AZURE_139: a Basic registry has no private endpoints (Premium only); the admin user is off and pulls use the relay's identity
  // checkov:skip=CKV_AZURE_163: image scanning (Defender for Containers) is a subscription plan, not a registry property; enable it there
  // checkov:skip=CKV_AZURE_166: quarantine needs a Premium registry; the only image is the one azd or az acr build pushes
  name: name
  location: location
  tags: tags
  sku: {
    name: 'Basic'
  }
  properties: {
    adminUserEnabled: false
  }
}

resource pull 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: registry
  name: guid(registry.id, acrPullRoleId, pullPrincipalId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: pullPrincipalId
    principalType: 'ServicePrincipal'
  }
}

output name string = registry.name
output loginServer string = registry.properties.loginServer
