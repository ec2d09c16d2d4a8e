// Azure OpenAI: the account, one realtime model deployment, and the Cognitive Services OpenAI
// User role for the identities that call it.  Key auth is off: the relay presents an Entra ID
// token (AZURE_OPENAI_API_KEY stays unset).

@description('Account name, also its subdomain (https://NAME.openai.azure.com/): globally unique.')
@minLength(2)
@maxLength(64)
param name string

@description('Azure region of the account: one where the realtime model is offered.')
param location string

@description('Tags of the account.')
param tags object = {}

@description('Name of the deployment (the relay\'s AZURE_OPENAI_DEPLOYMENT).')
param deploymentName string

@description('Realtime model name.')
param modelName string

@description('Realtime model version.')
param modelVersion string

@description('Deployment type (GlobalStandard: pay per token, nothing at rest).')
param deploymentSku string = 'GlobalStandard'

@description('Capacity in thousands of tokens per minute.')
@minValue(1)
param capacity int

@description('Object ids of the principals given Cognitive Services OpenAI User (call the deployments, nothing else).')
param userPrincipalIds array

@description('Principal type of each of userPrincipalIds, in the same order (ServicePrincipal or User).')
param userPrincipalTypes array

// Cognitive Services OpenAI User.
var openAiUserRoleId = '5e0bd9bd-7b93-4f28-af87-19fc36ad61bd'

resource account 'Microsoft.CognitiveServices/accounts@2024-10-01' = {
  // checkov:skip=CKV_AZURE_134: public network access stays on until private networking (a VNet-integrated Container Apps environment) is an option of this template; keys are off, Entra ID only
  // checkov:skip=CKV_AZURE_238: the account calls nothing on its own (no customer-managed key, no data sources), so it needs no identity; the relay's identity calls it
  name: name
  location: location
  tags: tags
  kind: 'OpenAI'
  sku: {
    name: 'S0'
  }
  properties: {
    customSubDomainName: name
    publicNetworkAccess: 'Enabled'
    disableLocalAuth: true
  }
}

resource deployment 'Microsoft.CognitiveServices/accounts/deployments@2024-10-01' = {
  parent: account
  name: deploymentName
  sku: {
    name: deploymentSku
    capacity: capacity
  }
  properties: {
    model: {
      format: 'OpenAI'
      name: modelName
      version: modelVersion
    }
  }
}

resource users 'Microsoft.Authorization/roleAssignments@2022-04-01' = [
  for (principalId, index) in userPrincipalIds: {
    scope: account
    name: guid(account.id, openAiUserRoleId, principalId)
    properties: {
      roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', openAiUserRoleId)
      principalId: principalId
      principalType: userPrincipalTypes[index]
    }
  }
]

@description('The relay\'s AZURE_OPENAI_ENDPOINT.')
output endpoint string = account.properties.endpoint
output name string = account.name
output deploymentName string = deployment.name
