// The user-assigned managed identity the relay runs as.  It is created before the app, so that
// its role assignments (Cosmos DB data, Azure OpenAI, registry pull) exist when the first
// revision starts; a system-assigned identity would only exist once the app does.

@description('Name of the identity.')
param name string

@description('Azure region of the identity.')
param location string

@description('Tags of the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output clientId string = identity.properties.clientId
output principalId string = identity.properties.principalId
