// The relay's Azure resources: the managed identity the app runs as, and Cosmos DB for its
// conversations with that identity's data-plane role.  The app's hosting (App Service,
// Container Apps...) is not defined here: attach the identity to it and set the outputs below
// as its environment.
//
//   az deployment group create -g RESOURCE_GROUP -f infra/main.bicep
//
// The relay then authenticates with Entra ID: DefaultAzureCredential picks the managed identity
// named by AZURE_CLIENT_ID.

targetScope = 'resourceGroup'

@description('Azure region of every resource.')
param location string = resourceGroup().location

@description('Prefix of the resource names (lowercase letters, digits and hyphens).')
@minLength(3)
@maxLength(20)
param namePrefix string = 'voice-relay'

@description('Database of the conversations (the relay\'s COSMOSDB_DATABASE).')
param cosmosDatabaseName string = 'GenAI'

@description('Container of the conversations (the relay\'s COSMOSDB_CONTAINER).')
param cosmosContainerName string = 'AI_Conversations'

@description('Retention: seconds after its last write a conversation is deleted. 0 keeps them forever.')
@minValue(0)
param conversationTtlSeconds int = 0

@description('Object ids of developers who run the relay locally with their own az login (given the same data-plane role as the app).')
param developerPrincipalIds array = []

@description('Turn Cosmos DB key auth off, so that only Entra ID identities get in.')
param disableCosmosKeyAuth bool = false

resource appIdentity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: '${namePrefix}-identity'
  location: location
}

module cosmos 'modules/cosmos/cosmos.bicep' = {
  name: 'cosmos'
  params: {
    accountName: toLower('${namePrefix}-${uniqueString(resourceGroup().id)}')
    location: location
    databaseName: cosmosDatabaseName
    containerName: cosmosContainerName
    defaultTtlSeconds: conversationTtlSeconds
    dataContributorPrincipalIds: concat([appIdentity.properties.principalId], developerPrincipalIds)
    disableKeyAuth: disableCosmosKeyAuth
  }
}

@description('Attach this user-assigned identity to the app.')
output APP_IDENTITY_RESOURCE_ID string = appIdentity.id

// The app's environment.
output AZURE_CLIENT_ID string = appIdentity.properties.clientId
output COSMOSDB_ENDPOINT string = cosmos.outputs.endpoint
output COSMOSDB_DATABASE string = cosmos.outputs.databaseName
output COSMOSDB_CONTAINER string = cosmos.outputs.containerName
