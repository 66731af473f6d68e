// The Azure Bot: the Bot Framework's registration of the endpoint, signed in as a user-assigned managed identity,
// with the Microsoft Teams channel on; in approver mode, with the OAuth connection an approver's sign-in goes through.

param name string
param displayName string
param endpoint string
param identityResourceId string
param identityClientId string
param tenantId string

@description('Approver mode: the sign-in app registration (modules/signin.bicep); empty: no OAuth connection.')
param signInAppId string = ''

@secure()
@description('A client secret of the sign-in app registration, for the OAuth connection.')
param signInClientSecret string = ''

param oauthConnectionName string = 'graph'

@description('Delegated Microsoft Graph scopes the connection asks for.')
param graphScopes array = []

resource bot 'Microsoft.BotService/botServices@2022-09-15' = {
  name: name
  location: 'global'
  kind: 'azurebot'
  sku: {
    name: 'F0'
  }
  properties: {
    displayName: displayName
    endpoint: endpoint
    msaAppType: 'UserAssignedMSI'
    msaAppId: identityClientId
    msaAppMSIResourceId: identityResourceId
    msaAppTenantId: tenantId
  }
}

resource teams 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: bot
  name: 'MsTeamsChannel'
  location: 'global'
  properties: {
    channelName: 'MsTeamsChannel'
  }
}

// The Bot Framework Token Service exchanges a person's Teams SSO token (for api://botid-<bot id>) through this
// connection for their Microsoft Graph token.
resource connection 'Microsoft.BotService/botServices/connections@2022-09-15' = if (!empty(signInAppId)) {
  parent: bot
  name: oauthConnectionName
  location: 'global'
  properties: {
    serviceProviderDisplayName: 'Azure Active Directory v2'
    serviceProviderId: '30dd229c-58e3-4a48-bdfd-91ec48eb906c'
    clientId: signInAppId
    clientSecret: signInClientSecret
    scopes: join(graphScopes, ' ')
    parameters: [
      {
        key: 'tenantID'
        value: tenantId
      }
      {
        key: 'tokenExchangeUrl'
        value: 'api://botid-${identityClientId}'
      }
    ]
  }
}
